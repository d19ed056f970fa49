import { AjvCompiler } from '@fastify/ajv-compiler';

type ValidatorFactory = ReturnType<typeof AjvCompiler>;
type ExternalSchemas = Parameters<ValidatorFactory>[0];
type ValidatorContext = Parameters<ReturnType<ValidatorFactory>>[0];
interface FactoryOptions {
  readonly customOptions?: Record<string, unknown>;
  readonly [other: string]: unknown;
}

/**
 * Validators that never coerce request bodies. Fastify's default Ajv coerces types everywhere,
 * which suits a query string (`?limit=20` arrives as text) but on a JSON body would turn the
 * string "10" into the amount 10, or `true` into 1: on a money path a wrong type must be an
 * error. Bodies get an Ajv with `coerceTypes: false`; query strings, params and headers keep
 * Fastify's coercion. Answers the validator factory of Fastify's `schemaController`.
 */
export function bodyStrictValidators() {
  const factory = AjvCompiler();
  const build = (externalSchemas: ExternalSchemas, options: FactoryOptions = {}) => {
    const strict = factory(externalSchemas, {
      ...options,
      customOptions: { ...options.customOptions, coerceTypes: false },
    } as Parameters<ValidatorFactory>[1]);
    const lenient = factory(externalSchemas, options as Parameters<ValidatorFactory>[1]);
    return (context: ValidatorContext) =>
      context.httpPart === 'body' ? strict(context) : lenient(context);
  };
  return build;
}
