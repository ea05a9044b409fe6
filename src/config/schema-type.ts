// The TypeScript type of a JSON Schema, computed from the schema itself (declared `as const`), so
// the DEVS.yml type cannot drift from the schema that validates it. Covers the subset schema.ts
// uses: `type` (one or a list), `items`, `properties`, `additionalProperties` and local
// `#/definitions/...` references; anything else is `unknown`.

type TypeName<T> = T extends "string"
  ? string
  : T extends "boolean"
    ? boolean
    : T extends "null"
      ? null
      : T extends "number" | "integer"
        ? number
        : T extends "array"
          ? unknown[]
          : T extends "object"
            ? Record<string, unknown>
            : never;

/** The values a schema accepts. `Root` holds the `definitions` a `$ref` points into. */
export type FromSchema<S, Root = S> = S extends { $ref: `#/definitions/${infer Name}` }
  ? Root extends { definitions: { [K in Name]: infer Definition } }
    ? FromSchema<Definition, Root>
    : never
  : S extends { type: "array"; items: infer Item }
    ? FromSchema<Item, Root>[]
    : S extends { type: "object"; additionalProperties: infer Value extends object }
      ? // Named properties must match the open value schema too (env_vars.default), so the map says it all.
        Record<string, FromSchema<Value, Root>>
      : S extends { type: "object"; properties: infer Properties }
        ? { -readonly [K in keyof Properties]?: FromSchema<Properties[K], Root> }
        : S extends { type: infer Names }
          ? Names extends readonly (infer Name)[]
            ? TypeName<Name>
            : TypeName<Names>
          : unknown;

/** An object schema's properties that have a `default`, all present: the document once defaults are applied. */
export type WithDefaults<S> = S extends { properties: infer Properties }
  ? { -readonly [K in keyof Properties as Properties[K] extends { default: unknown } ? K : never]: FromSchema<Properties[K], S> }
  : never;
