import { SerializerSelector } from '@fastify/fast-json-stringify-compiler';

type SerializerFactory = ReturnType<typeof SerializerSelector>;
type ExternalSchemas = Parameters<SerializerFactory>[0];
type SerializerOptions = Parameters<SerializerFactory>[1];
type RouteDefinition = Parameters<ReturnType<SerializerFactory>>[0];
type Serializer = ReturnType<ReturnType<SerializerFactory>>;

/**
 * Fastify's response serializers (fast-json-stringify, one per route and status code), each
 * compiled the first time it serializes an answer instead of all of them when the server
 * starts. Compiling every one was the largest item of a platform's start in a CPU profile
 * (decision 3), for serializers most processes never use; the first answer of each kind pays a
 * few milliseconds instead. With `eager`, every one is compiled at start, as
 * Fastify does by default: the offline OpenAPI build uses it, so a response schema that cannot
 * be compiled still fails a test rather than a request.
 */
export function responseSerializers(eager: boolean) {
  const factory = SerializerSelector();
  return (externalSchemas: ExternalSchemas, options: SerializerOptions) => {
    const compile = factory(externalSchemas, options);
    return (route: RouteDefinition): Serializer => {
      if (eager) return compile(route);
      let serialize: Serializer | undefined;
      return (document: unknown) => {
        serialize ??= compile(route);
        return serialize(document);
      };
    };
  };
}
