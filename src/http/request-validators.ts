import { AjvCompiler } from '@fastify/ajv-compiler';

type ValidatorFactory = ReturnType<typeof AjvCompiler>;
type ExternalSchemas = Parameters<ValidatorFactory>[0];
type ValidatorContext = Parameters<ReturnType<ValidatorFactory>>[0];
type Validator = ReturnType<ReturnType<ValidatorFactory>>;
interface FactoryOptions {
  readonly customOptions?: Record<string, unknown>;
  readonly [other: string]: unknown;
}

/**
 * Fastify's request validators (Ajv, one per route and part of the request), with two changes
 * to its defaults.
 *
 * Bodies are never coerced. Fastify's default Ajv coerces types everywhere, which suits a query
 * string (`?limit=20` arrives as text) but on a JSON body would turn the string "10" into the
 * amount 10, or `true` into 1: on a money path a wrong type must be an error. Bodies get an Ajv
 * with `coerceTypes: false`; query strings, params and headers keep Fastify's coercion.
 *
 * Each validator is compiled the first time it validates a request, not when the server starts
 * (as the response serializers, lazy-serializers.ts): most processes use few of the routes of
 * every module. With `eager`, every one is compiled at start, as Fastify does by default: the
 * offline OpenAPI build uses it, so a request schema that cannot be compiled still fails a test
 * rather than a request. Answers the validator factory of Fastify's `schemaController`.
 */
export function requestValidators(eager: boolean) {
  const factory = AjvCompiler();
  return (externalSchemas: ExternalSchemas, options: FactoryOptions = {}) => {
    const strict = factory(externalSchemas, {
      ...options,
      customOptions: { ...options.customOptions, coerceTypes: false },
    } as Parameters<ValidatorFactory>[1]);
    const lenient = factory(externalSchemas, options as Parameters<ValidatorFactory>[1]);
    return (context: ValidatorContext): Validator => {
      const compile = () => (context.httpPart === 'body' ? strict(context) : lenient(context));
      return eager ? compile() : compiledAtFirstUse(compile);
    };
  };
}

/**
 * A validator that compiles itself at its first call. It answers what the compiled one answers,
 * and shows Fastify the same two properties: `errors`, read after a failed validation, and
 * `schemaEnv`, Ajv's mark that makes Fastify pass the request as the validated value's parent,
 * which Ajv needs to coerce a root value (a header or query string given as a single string).
 * An Ajv validator ignores that parent when it does not coerce, so the mark is always shown.
 */
function compiledAtFirstUse(compile: () => Validator): Validator {
  let compiled: Validator | undefined;
  const validate = (...args: Parameters<Validator>) => {
    compiled ??= compile();
    return compiled(...args);
  };
  Object.defineProperty(validate, 'errors', { get: () => compiled?.errors ?? null });
  Object.defineProperty(validate, 'schemaEnv', { value: true });
  return validate as Validator;
}
