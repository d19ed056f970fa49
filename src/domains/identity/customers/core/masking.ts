/**
 * Masks for personal data in every answer and list: enough for the customer to recognise their
 * own (`张*`, `1101**********4573`, `+86138****5678`, `**** 1234`), too little for anyone else.
 */

/** The first character, then one star for each other: `张*`, `A********`. */
export function maskName(name: string): string {
  const characters = [...name];
  return characters.length === 0 ? '' : `${characters[0]}${'*'.repeat(characters.length - 1)}`;
}

/** The first and last four characters of a long number (one each of a short one), stars between. */
export function maskIdNumber(idNumber: string): string {
  const keep = idNumber.length >= 12 ? 4 : 1;
  if (idNumber.length <= keep * 2) return '*'.repeat(idNumber.length);
  return `${idNumber.slice(0, keep)}${'*'.repeat(idNumber.length - keep * 2)}${idNumber.slice(-keep)}`;
}

/** The country code and the first digits, four stars, the last four digits: `+86138****5678`. */
export function maskPhone(phone: string): string {
  const head = Math.max(2, phone.length - 8);
  return `${phone.slice(0, head)}****${phone.slice(-4)}`;
}

/** A card by its last four digits. */
export function maskCard(last4: string): string {
  return `**** ${last4}`;
}
