/**
 * A change request as the admission gate reads it (decision 55): what the change is (the level-1
 * triggers it states) and its data profile (the tables it touches, with stated figures for those
 * that do not exist yet; its availability needs; the services it runs). One TypeBox schema is
 * the HTTP body's and the domain's check, so a caller that does not come through HTTP is held to
 * the same rules ({@link checkChangeRequest}).
 */
import { type Static, Type } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { type FieldError, MainstayError } from '../../../errors/mainstay-error.ts';

/** The level-1 triggers: a change that states one of them is reviewed before release. */
export const ADMISSION_TRIGGERS = [
  'new_system',
  'large_refactor',
  'new_framework',
  'new_equipment',
  'new_technology',
  'call_relations',
] as const;
export type AdmissionTrigger = (typeof ADMISSION_TRIGGERS)[number];

/** How many tables and services one request may name. */
export const REQUEST_TABLE_COUNT_MAX = 100;
export const REQUEST_SERVICE_COUNT_MAX = 50;

/** `orders` or `ledger.orders`: a lowercase SQL identifier, optionally schema-qualified. */
const TABLE_NAME_PATTERN = '^[a-z_][a-z0-9_]{0,62}(\\.[a-z_][a-z0-9_]{0,62})?$';
const NAME_PATTERN = '^[a-z0-9][a-z0-9._-]{0,63}$';
/** A stated rate, per second (a function, not a spread schema: declarations must name its type). */
const rate = (description: string) => Type.Number({ minimum: 0, maximum: 10_000_000, description });
/** A stated count. */
const count = (description: string) =>
  Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER, description });

/** A table the change reads or writes, with what is stated about it. */
export const ChangeTableSchema = Type.Object(
  {
    name: Type.String({
      pattern: TABLE_NAME_PATTERN,
      description: 'The table, `name` (schema `public`) or `schema.name`.',
    }),
    expectedReadsPerSecond: Type.Optional(rate('Stated peak reads a second.')),
    expectedWritesPerSecond: Type.Optional(
      rate('Stated peak writes (inserts, updates, deletes) a second.'),
    ),
    expectedRows: Type.Optional(count('Rows the table holds at release.')),
    rowBytes: Type.Optional(
      Type.Integer({ minimum: 1, maximum: 1_048_576, description: 'Average bytes per row.' }),
    ),
    growthRowsPerDay: Type.Optional(count('Rows added per day.')),
  },
  { $id: 'AdmissionChangeTable', additionalProperties: false },
);

/** A service the change runs. */
export const ChangeServiceSchema = Type.Object(
  {
    name: Type.String({ pattern: NAME_PATTERN }),
    instancesPerDataCentre: Type.Integer({ minimum: 0, maximum: 10_000 }),
    keepsLocalState: Type.Boolean({
      description:
        'Whether an instance keeps state a request needs on its own disk or in its memory (sessions, caches that must agree).',
    }),
  },
  { $id: 'AdmissionChangeService', additionalProperties: false },
);

/** The change request: the HTTP body's schema and the domain's check. */
export const ChangeRequestSchema = Type.Object(
  {
    title: Type.String({ minLength: 1, maxLength: 200 }),
    system: Type.String({ pattern: NAME_PATTERN, description: 'The system the change is to.' }),
    triggers: Type.Array(Type.Union(ADMISSION_TRIGGERS.map((trigger) => Type.Literal(trigger))), {
      uniqueItems: true,
      maxItems: ADMISSION_TRIGGERS.length,
      description: 'The level-1 triggers the change meets; an empty list states none.',
    }),
    tables: Type.Array(Type.Ref(ChangeTableSchema), { maxItems: REQUEST_TABLE_COUNT_MAX }),
    availability: Type.Object(
      {
        rtoSeconds: Type.Integer({ minimum: 0, maximum: 30 * 24 * 3600 }),
        rpoSeconds: Type.Integer({ minimum: 0, maximum: 30 * 24 * 3600 }),
        moneyPath: Type.Boolean({ description: 'Whether the change moves or decides money.' }),
      },
      { additionalProperties: false },
    ),
    services: Type.Optional(
      Type.Array(Type.Ref(ChangeServiceSchema), { maxItems: REQUEST_SERVICE_COUNT_MAX }),
    ),
  },
  { $id: 'AdmissionChangeRequest', additionalProperties: false },
);

export type ChangeTable = Static<typeof ChangeTableSchema>;
export type ChangeService = Static<typeof ChangeServiceSchema>;
/** A checked change request: table names qualified (`public.orders`), services always listed. */
export type ChangeRequest = Omit<Static<typeof ChangeRequestSchema>, 'tables' | 'services'> & {
  readonly tables: readonly ChangeTable[];
  readonly services: readonly ChangeService[];
};

/** `orders` as `public.orders`; a qualified name as it is. */
export function qualifiedTableName(name: string): string {
  return name.includes('.') ? name : `public.${name}`;
}

/**
 * The change request in `input`, checked: `invalid_request` with a pointer per field the schema
 * refuses (or a string PostgreSQL cannot store), `change_request_invalid` when the fields are
 * each fine but together say something impossible (a table named twice, an RPO above the RTO).
 */
export function checkChangeRequest(input: unknown): ChangeRequest {
  const refs = [ChangeTableSchema, ChangeServiceSchema];
  const errors: FieldError[] = [...Value.Errors(ChangeRequestSchema, refs, input)]
    .slice(0, 20)
    .map((error) => ({ pointer: error.path || '/', detail: error.message }));
  const text = unstorableText(input, '');
  if (text) errors.unshift(text);
  if (errors.length > 0) {
    throw new MainstayError('invalid_request', 'the change request is malformed', { errors });
  }
  const raw = input as Static<typeof ChangeRequestSchema>;
  const request: ChangeRequest = {
    ...raw,
    tables: raw.tables.map((table) => ({ ...table, name: qualifiedTableName(table.name) })),
    services: raw.services ?? [],
  };
  const conflicts = crossFieldFaults(request);
  if (conflicts.length > 0) {
    throw new MainstayError('change_request_invalid', conflicts.map((c) => c.detail).join('; '), {
      errors: conflicts,
    });
  }
  return request;
}

function crossFieldFaults(request: ChangeRequest): FieldError[] {
  const faults: FieldError[] = [];
  const seen = new Set<string>();
  request.tables.forEach((table, index) => {
    if (seen.has(table.name))
      faults.push({ pointer: `/tables/${index}/name`, detail: `${table.name} is named twice` });
    seen.add(table.name);
    const sized = table.expectedRows !== undefined || table.growthRowsPerDay !== undefined;
    if (sized && table.rowBytes === undefined)
      faults.push({
        pointer: `/tables/${index}/rowBytes`,
        detail: `${table.name} states rows but not rowBytes, so its size cannot be worked out`,
      });
  });
  const services = new Set<string>();
  request.services.forEach((service, index) => {
    if (services.has(service.name))
      faults.push({ pointer: `/services/${index}/name`, detail: `${service.name} is named twice` });
    services.add(service.name);
  });
  const { rtoSeconds, rpoSeconds } = request.availability;
  if (rpoSeconds > rtoSeconds && rtoSeconds > 0)
    faults.push({
      pointer: '/availability/rpoSeconds',
      detail: `an RPO of ${rpoSeconds} s above the RTO of ${rtoSeconds} s cannot be met by recovery`,
    });
  return faults;
}

/** With the `u` flag a pair reads as one code point, so only a lone surrogate matches. */
const UNPAIRED_SURROGATE = /\p{Cs}/u;

/** The first string or key holding U+0000 or an unpaired surrogate, for non-HTTP callers. */
function unstorableText(value: unknown, pointer: string): FieldError | null {
  if (typeof value === 'string') {
    if (value.includes('\u0000')) return { pointer: pointer || '/', detail: 'contains U+0000' };
    if (UNPAIRED_SURROGATE.test(value))
      return { pointer: pointer || '/', detail: 'contains an unpaired surrogate' };
    return null;
  }
  if (value === null || typeof value !== 'object') return null;
  for (const [key, field] of Object.entries(value)) {
    const here = `${pointer}/${key.replaceAll('~', '~0').replaceAll('/', '~1')}`;
    const fault = unstorableText(key, here) ?? unstorableText(field, here);
    if (fault) return fault;
  }
  return null;
}
