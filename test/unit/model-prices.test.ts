// Model prices: which list price a model name gets, what an unknown model costs, an operator's
// price file merged over the list, and the errors a bad file gets.
import { describe, expect, it } from "vitest";
import { costUsd, DEFAULT_PRICES, parsePriceOverrides, priceOf } from "../../src/model-proxy/prices.js";

const OPUS_4 = { input: 15, output: 75, cacheWrite: 18.75, cacheRead: 1.5 };
const OPUS_4_5 = { input: 5, output: 25, cacheWrite: 6.25, cacheRead: 0.5 };
const SONNET_4 = { input: 3, output: 15, cacheWrite: 3.75, cacheRead: 0.3 };

describe("list prices", () => {
  it.each([
    ["claude-opus-4-5-20251101", OPUS_4_5],
    ["claude-opus-4-6", OPUS_4_5],
    ["claude-opus-4-1-20250805", OPUS_4],
    ["claude-opus-4-20250514", OPUS_4],
    ["claude-sonnet-4-5-20250929", SONNET_4],
    ["claude-sonnet-4-20250514", SONNET_4],
    ["claude-3-7-sonnet-20250219", SONNET_4],
    ["claude-haiku-4-5-20251001", { input: 1, output: 5, cacheWrite: 1.25, cacheRead: 0.1 }],
    ["claude-3-5-haiku-20241022", { input: 0.8, output: 4, cacheWrite: 1, cacheRead: 0.08 }],
  ])("%s gets the price of its longest prefix", (model, expected) => {
    expect(priceOf(DEFAULT_PRICES, model)).toEqual(expected);
  });

  it("prices an unknown or unnamed model as the dearest known one", () => {
    expect(DEFAULT_PRICES.get("*")).toEqual(OPUS_4);
    expect(priceOf(DEFAULT_PRICES, "claude-mystery-9")).toEqual(OPUS_4);
    expect(priceOf(DEFAULT_PRICES, null)).toEqual(OPUS_4);
    // A prefix matches from the start only.
    expect(priceOf(DEFAULT_PRICES, "x-claude-3-5-haiku")).toEqual(OPUS_4);
  });

  it("no model costs more than the fallback in any field", () => {
    const fallback = DEFAULT_PRICES.get("*")!;
    for (const [model, price] of DEFAULT_PRICES) {
      for (const field of ["input", "output", "cacheWrite", "cacheRead"] as const) expect(price[field], `${model}.${field}`).toBeLessThanOrEqual(fallback[field]);
    }
  });
});

describe("cost", () => {
  it("adds each kind of token at its price per million", () => {
    const usage = { inputTokens: 1_000_000, outputTokens: 200_000, cacheCreationTokens: 400_000, cacheReadTokens: 2_000_000 };
    // 3 + 0.2 × 15 + 0.4 × 3.75 + 2 × 0.3
    expect(costUsd(usage, SONNET_4)).toBeCloseTo(8.1, 10);
    expect(costUsd({ inputTokens: 120, outputTokens: 30, cacheCreationTokens: 0, cacheReadTokens: 0 }, OPUS_4_5)).toBeCloseTo(0.00135, 12);
  });
});

describe("an operator's price file", () => {
  const SOURCE = "MODEL_PRICES_FILE (/etc/devs/prices.json)";

  it("overrides and adds entries over the list prices, and keeps the rest", () => {
    const table = parsePriceOverrides(
      JSON.stringify({
        "claude-sonnet-4": { input: 2, output: 10, cache_write: 2.5, cache_read: 0.2 },
        "claude-sonnet-4-5-turbo": { input: 4, output: 20 },
      }),
      SOURCE,
    );
    expect(priceOf(table, "claude-sonnet-4-20250514")).toEqual({ input: 2, output: 10, cacheWrite: 2.5, cacheRead: 0.2 });
    // cache prices left out are 1.25× and 0.1× input.
    expect(priceOf(table, "claude-sonnet-4-5-turbo-1")).toEqual({ input: 4, output: 20, cacheWrite: 5, cacheRead: 0.4 });
    expect(priceOf(table, "claude-opus-4-5-20251101")).toEqual(OPUS_4_5);
    expect(priceOf(table, "claude-unknown")).toEqual(OPUS_4);
    expect(DEFAULT_PRICES.get("claude-sonnet-4")).toEqual(SONNET_4); // the defaults are untouched
  });

  it("sets the fallback when it names *, and otherwise keeps it the dearest of the merged table", () => {
    expect(priceOf(parsePriceOverrides('{"*": {"input": 1, "output": 2}}', SOURCE), "claude-unknown")).toEqual({ input: 1, output: 2, cacheWrite: 1.25, cacheRead: 0.1 });
    const dearer = parsePriceOverrides('{"claude-opus-4": {"input": 20, "output": 100, "cache_write": 25, "cache_read": 2}}', SOURCE);
    expect(priceOf(dearer, "claude-unknown")).toEqual({ input: 20, output: 100, cacheWrite: 25, cacheRead: 2 });
  });

  it("accepts an empty object as the list prices", () => {
    expect([...parsePriceOverrides("{}", SOURCE)]).toEqual([...DEFAULT_PRICES]);
  });

  it.each<[string, string, string]>([
    ["not JSON", "{claude", "not valid JSON"],
    ["an array", "[]", "must be a JSON object whose keys are model-name prefixes"],
    ["a number", "3", "must be a JSON object whose keys are model-name prefixes"],
    ["an empty key", '{"": {"input": 1, "output": 1}}', '"" is not a model-name prefix'],
    ["an entry that is no object", '{"claude-x": 3}', '"claude-x" must be an object with "input" and "output" prices'],
    ["a negative price", '{"claude-x": {"input": -1, "output": 1}}', '"claude-x".input must be a number ≥ 0'],
    ["a price in a string", '{"claude-x": {"input": 1, "output": "15"}}', '"claude-x".output must be a number ≥ 0'],
    ["a missing price", '{"claude-x": {"input": 1}}', '"claude-x".output must be a number ≥ 0'],
    ["a bad cache price", '{"*": {"input": 1, "output": 1, "cache_read": null}}', '"*".cache_read must be a number ≥ 0'],
    ["a misspelt field", '{"claude-x": {"input": 1, "output": 1, "cacheWrite": 2}}', '"claude-x".cacheWrite is not a price field (input, output, cache_write, cache_read)'],
  ])("refuses %s, naming the source, the entry and the problem", (_, json, problem) => {
    expect(() => parsePriceOverrides(json, SOURCE)).toThrow(`${SOURCE}: ${problem}`);
  });
});
