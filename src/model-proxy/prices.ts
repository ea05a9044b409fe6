// What model usage costs: Anthropic's list prices by model-name prefix, an operator's overrides,
// and the cost of a usage figure. Pure.
import type { TokenUsage } from "./usage.js";

/** US dollars per million tokens. */
export interface ModelPrice {
  input: number;
  output: number;
  cacheWrite: number;
  cacheRead: number;
}

/** Keyed by a model-name prefix; `*` is the price of a model no prefix matches. */
export type PriceTable = ReadonlyMap<string, ModelPrice>;

const FALLBACK = "*";

const price = (input: number, output: number, cacheWrite: number, cacheRead: number): ModelPrice => ({ input, output, cacheWrite, cacheRead });

const LIST_PRICES: ReadonlyArray<readonly [string, ModelPrice]> = [
  ["claude-opus-4-6", price(5, 25, 6.25, 0.5)],
  ["claude-opus-4-5", price(5, 25, 6.25, 0.5)],
  ["claude-opus-4-1", price(15, 75, 18.75, 1.5)],
  ["claude-opus-4", price(15, 75, 18.75, 1.5)],
  ["claude-sonnet-4", price(3, 15, 3.75, 0.3)],
  ["claude-3-7-sonnet", price(3, 15, 3.75, 0.3)],
  ["claude-haiku-4-5", price(1, 5, 1.25, 0.1)],
  ["claude-3-5-haiku", price(0.8, 4, 1, 0.08)],
];

/**
 * An unknown model is priced as the dearest known one, field by field, so it can never make a
 * budget look larger than it is.
 */
function withFallback(table: Map<string, ModelPrice>): PriceTable {
  if (!table.has(FALLBACK)) {
    const known = [...table.values()];
    const most = (field: keyof ModelPrice) => Math.max(0, ...known.map((p) => p[field]));
    table.set(FALLBACK, price(most("input"), most("output"), most("cacheWrite"), most("cacheRead")));
  }
  return table;
}

export const DEFAULT_PRICES: PriceTable = withFallback(new Map(LIST_PRICES));

const OVERRIDE_FIELDS = ["input", "output", "cache_write", "cache_read"] as const;

/**
 * An operator's price file merged over the list prices:
 * `{"claude-sonnet-4": {"input": 3, "output": 15, "cache_write": 3.75, "cache_read": 0.3}, "*": {...}}`.
 * cache_write and cache_read default to 1.25× and 0.1× input. Without a `*` entry the fallback
 * is the dearest of the merged table. Throws an Error naming `source`, the entry and the problem.
 */
export function parsePriceOverrides(json: string, source: string): PriceTable {
  const fail = (problem: string): never => {
    throw new Error(`${source}: ${problem}`);
  };
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch (error) {
    return fail(`not valid JSON (${(error as Error).message})`);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return fail("must be a JSON object whose keys are model-name prefixes (or \"*\") and whose values are prices");
  }
  const merged = new Map([...DEFAULT_PRICES].filter(([key]) => key !== FALLBACK));
  for (const [key, entry] of Object.entries(value as Record<string, unknown>)) {
    const name = JSON.stringify(key);
    if (key.trim() === "") fail(`${name} is not a model-name prefix`);
    if (typeof entry !== "object" || entry === null || Array.isArray(entry)) {
      return fail(`${name} must be an object with "input" and "output" prices (dollars per million tokens)`);
    }
    const fields = entry as Record<string, unknown>;
    for (const field of Object.keys(fields)) {
      if (!(OVERRIDE_FIELDS as readonly string[]).includes(field)) fail(`${name}.${field} is not a price field (${OVERRIDE_FIELDS.join(", ")})`);
    }
    const amount = (field: (typeof OVERRIDE_FIELDS)[number], otherwise?: number): number => {
      const v = field in fields ? fields[field] : otherwise;
      if (typeof v !== "number" || !Number.isFinite(v) || v < 0) return fail(`${name}.${field} must be a number ≥ 0`);
      return v;
    };
    const input = amount("input");
    merged.set(key, price(input, amount("output"), amount("cache_write", input * 1.25), amount("cache_read", input * 0.1)));
  }
  return withFallback(merged);
}

/** The price of the longest prefix of `model` in the table, else the fallback. */
export function priceOf(table: PriceTable, model: string | null): ModelPrice {
  let best: ModelPrice | undefined;
  let bestLength = -1;
  if (model !== null) {
    for (const [prefix, p] of table) {
      if (prefix !== FALLBACK && prefix.length > bestLength && model.startsWith(prefix)) {
        best = p;
        bestLength = prefix.length;
      }
    }
  }
  return best ?? table.get(FALLBACK) ?? DEFAULT_PRICES.get(FALLBACK)!;
}

export function costUsd(usage: TokenUsage, p: ModelPrice): number {
  return (
    (usage.inputTokens * p.input + usage.outputTokens * p.output + usage.cacheCreationTokens * p.cacheWrite + usage.cacheReadTokens * p.cacheRead) /
    1_000_000
  );
}
