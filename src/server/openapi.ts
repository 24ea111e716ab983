/**
 * The OpenAPI 3.1 document, generated from the route table and its zod schemas, shaped the
 * way client generators take it:
 *
 * - every schema that carries an id (`.meta({ id: 'Run' })`) is a named component under
 *   `#/components/schemas/` and is referred to wherever it appears, never repeated inline;
 * - bodies and responses are described as they travel (zod's `input` side: an instant is an
 *   ISO 8601 string with `format: date-time`), path and query parameters with their real
 *   types (`limit` is an integer with its bounds, although it arrives as text);
 * - a body is `required` unless its route accepts none;
 * - integer bounds that say nothing (±2^53-1, zod's default for `.int()`) are left out.
 */
import { z } from 'zod';
import type { ApiRoute } from './route.js';
import { errorBodySchema } from '../protocol/schemas.js';

type JsonSchema = Record<string, unknown>;
type Components = Record<string, JsonSchema>;

const COMPONENTS = '#/components/schemas/';

/** Drops what generated code cannot use: the safe-integer bounds and date-time regexes. */
function tidy(ctx: { jsonSchema: JsonSchema }): void {
  const json = ctx.jsonSchema;
  if (json.minimum === Number.MIN_SAFE_INTEGER) delete json.minimum;
  if (json.maximum === Number.MAX_SAFE_INTEGER) delete json.maximum;
  if (json.format === 'date-time') delete json.pattern;
}

/** Rewrites zod's local `#/$defs/X` references to the document's components. */
function toComponentRefs<T>(value: T): T {
  if (Array.isArray(value)) return value.map(toComponentRefs) as T;
  if (value === null || typeof value !== 'object') return value;
  const out: JsonSchema = {};
  for (const [key, inner] of Object.entries(value as JsonSchema)) {
    out[key] =
      key === '$ref' && typeof inner === 'string'
        ? inner.replace(/^#\/\$defs\//, COMPONENTS)
        : toComponentRefs(inner);
  }
  return out as T;
}

function addComponent(components: Components, name: string, schema: JsonSchema): void {
  const known = components[name];
  if (known !== undefined && JSON.stringify(known) !== JSON.stringify(schema)) {
    // Two different shapes under one name would make generated types lie.
    throw new Error(`OpenAPI: two different schemas are named ${name}`);
  }
  components[name] = schema;
}

/** The JSON Schema of `schema`, its named parts moved into `components`. */
function schemaOf(schema: z.ZodType, io: 'input' | 'output', components: Components): JsonSchema {
  const json = z.toJSONSchema(schema, {
    io,
    unrepresentable: 'any',
    metadata: z.globalRegistry,
    override: tidy,
  }) as JsonSchema;
  const { $schema: _drop, $defs, ...rest } = json;
  for (const [name, def] of Object.entries(($defs ?? {}) as Components)) {
    addComponent(components, name, toComponentRefs(def));
  }
  return toComponentRefs(rest);
}

function parametersOf(route: ApiRoute, components: Components): JsonSchema[] {
  const out: JsonSchema[] = [];
  for (const [where, schema] of [
    ['path', route.params],
    ['query', route.query],
  ] as const) {
    // The output side: `limit` is the integer the handler gets, not the text it arrives as.
    const json = schemaOf(schema, 'output', components);
    const props = (json.properties ?? {}) as Record<string, JsonSchema>;
    const required = new Set((json.required ?? []) as string[]);
    for (const [name, prop] of Object.entries(props)) {
      out.push({
        name,
        in: where,
        required: where === 'path' || required.has(name),
        schema: prop,
        // Lists travel comma-separated in one parameter (`state=queued,running`).
        ...(prop.type === 'array' && { style: 'form', explode: false }),
      });
    }
  }
  return out;
}

const errorResponse = (description: string): JsonSchema => ({
  description,
  content: { 'application/json': { schema: { $ref: `${COMPONENTS}Error` } } },
});

function operationId(method: string, path: string): string {
  const words = path.replace(/[^A-Za-z]+(.)?/g, (_m, c: string | undefined) =>
    (c ?? '').toUpperCase(),
  );
  return `${method.toLowerCase()}${words}`;
}

export function openApiDocument(routes: ApiRoute[], version: string): JsonSchema {
  const components: Components = {};
  schemaOf(errorBodySchema, 'input', components);
  const paths: Record<string, Record<string, JsonSchema>> = {};
  for (const route of routes) {
    const path = route.path.replace(/:([A-Za-z]+)/g, '{$1}');
    const op: JsonSchema = {
      summary: route.summary,
      tags: [route.tag],
      operationId: operationId(route.method, path),
      'x-baton-right': route.right,
      parameters: parametersOf(route, components),
      responses: {
        [String(route.status)]: {
          description: 'OK',
          content: {
            'application/json': { schema: schemaOf(route.response, 'input', components) },
          },
        },
        '400': errorResponse(
          'Invalid request: the error names the field (U+0000 or a lone surrogate in any string included)',
        ),
        '401': errorResponse('Missing or unknown token'),
        '403': errorResponse(
          'The token lacks the right, or its types do not allow the task type (a shell task needs an admin token or a client token typed shell); under --no-auth, a foreign Host or Origin',
        ),
        ...(route.body !== null && {
          '413': errorResponse('Body over the size limit, or a task payload over maxPayloadBytes'),
        }),
        '429': errorResponse(
          'Rate limited (see Retry-After; also unauthenticated requests per address), queue full, too many open streams or long polls for the token, or too many live workers for the token',
        ),
      },
    };
    if (route.bodyDoc !== null) {
      op.requestBody = {
        required: !route.bodyDoc.safeParse(undefined).success,
        content: {
          'application/json': { schema: schemaOf(route.bodyDoc, 'input', components) },
        },
      };
    }
    (paths[path] ??= {})[route.method.toLowerCase()] = op;
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'baton',
      version,
      description:
        'Durable task orchestrator: HTTP API. Every instant is an ISO 8601 string in UTC with milliseconds (format date-time).',
    },
    servers: [{ url: '/api/v1' }],
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } },
      schemas: Object.fromEntries(
        Object.entries(components).sort(([a], [b]) => a.localeCompare(b)),
      ),
    },
    security: [{ bearer: [] }],
    paths,
  };
}
