// The dashboard's slot view with a long queue: the next few are listed, the count covers them all.
import { describe, expect, it } from "vitest";
import { renderFragments, type SlotTask } from "../../src/admin/dashboard.js";

const task = (i: number): SlotTask => ({ id: `t${i}`, kind: "agent", repo: "acme/widgets", target: i, title: `Task ${i}`, url: `https://github.com/acme/widgets/issues/${i}` });

describe("a slot with a backlog", () => {
  it("lists the first 25 queued tasks and says how many more wait", () => {
    const queued = Array.from({ length: 1000 }, (_, i) => task(i + 1));
    const view = { now: Date.parse("2026-12-02T10:00:00Z"), tasks: [], pool: { slots: [{ name: "eamonn", pools: ["main" as const], queued, running: null, warm: [] }], running: 0, max_concurrent_tasks: 3 } };
    const { pool, summary } = renderFragments(view);
    expect(pool).toContain("queue: 1000");
    expect(pool.match(/<li>/g)).toHaveLength(25);
    expect(pool).toContain("Task 25");
    expect(pool).not.toContain("Task 26<");
    expect(pool).toContain("and 975 more");
    expect(summary).toContain("1000 queued");
    expect(pool.length).toBeLessThan(20_000);
  });

  it("a short queue is listed whole, with no 'more' line", () => {
    const view = { now: 0, tasks: [], pool: { slots: [{ name: "eamonn", pools: ["main" as const], queued: [task(1), task(2)], running: null, warm: null }], running: 0, max_concurrent_tasks: 3 } };
    const { pool } = renderFragments(view);
    expect(pool.match(/<li>/g)).toHaveLength(2);
    expect(pool).not.toContain("more");
  });
});
