/**
 * Small TypeBox helpers shared by the response schemas, plus the type-level checks that keep
 * each schema identical to the TypeScript interface it describes.
 */
import { type TLiteral, type TNull, type TSchema, type TUnion, Type } from '@sinclair/typebox';

/**
 * `T | null`, spelled as `anyOf` so that both OpenAPI 3.1 and fast-json-stringify read it. Every
 * nullable field is still required: the interfaces use `null`, never an absent key.
 */
export function Nullable<T extends TSchema>(
  schema: T,
  options: { description?: string } = {},
): TUnion<[T, TNull]> {
  return Type.Union([schema, Type.Null()], options);
}

/**
 * A string enum built from one of the `as const` arrays, so the set of values is written once
 * (in the domain module) and the schema cannot drift from it.
 */
export function LiteralUnion<const T extends readonly string[]>(
  values: T,
  options: { description?: string } = {},
): TUnion<TLiteral<T[number]>[]> {
  return Type.Union(
    values.map((value) => Type.Literal(value)),
    options,
  );
}

/** Strips `readonly` all the way down, since TypeBox's `Static` types are mutable. */
export type DeepMutable<T> = T extends readonly unknown[]
  ? { -readonly [K in keyof T]: DeepMutable<T[K]> }
  : T extends object
    ? { -readonly [K in keyof T]: DeepMutable<T[K]> }
    : T;

/**
 * Exact type equality (not mere assignability): an extra, missing, optional or differently
 * nullable field makes it `false`.
 */
export type Equal<A, B> =
  (<V>() => V extends A ? 1 : 2) extends <V>() => V extends B ? 1 : 2 ? true : false;

/** Fails to compile unless its argument is `true`; used as `assertType<Equal<A, B>>(true)`. */
export function assertType<T extends true>(_proof: T): void {}
