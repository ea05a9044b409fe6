// The dashboard in a real browser (headless Chromium, loopback only) over the services `serve`
// builds: a task queued through the pool appears and changes state without a reload, the cancel
// button ends a queued and a running task as cancelled, and a <script> in an issue title stays
// text. DEVS_DASHBOARD_SCREENSHOT=docs/dashboard.png saves the picture the README shows.
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium, type BrowserContext, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { UsageLedger } from "../../src/budget/ledger.js";
import type { ContainerLifecycle } from "../../src/pool/pool.js";
import { startServer, type RunningServer } from "../../src/server.js";
import type { Task } from "../../src/tasks/task.js";
import type { Services } from "../../src/wiring/services.js";
import { gatedKinds, type Gates } from "../helpers/gated-kinds.js";
import { testServices } from "../helpers/services.js";
import { testSettings } from "../helpers/settings.js";
import { agentTask, agentTaskOnPullRequest, ciTaskOnPullRequest } from "../helpers/tasks.js";
import { until } from "../helpers/until.js";

const CHROMIUM = "/usr/bin/chromium";
const haveChromium = existsSync(CHROMIUM);
if (!haveChromium) {
  const why = `${CHROMIUM} is missing (Debian's chromium package; .ci/docker.sh installs it)`;
  if (process.env.CI === "true") throw new Error(`CI=true but ${why}`);
  console.warn(`skipping the dashboard's browser test: ${why}`);
}

const HOSTILE_TITLE = `<script>alert("title")</script><img src=x onerror=alert("img")>`;

let services: Services;
let server: RunningServer;
let gates: Gates;
let context: BrowserContext;
let page: Page;
let profile: string;
const dialogs: string[] = [];
const consoleErrors: string[] = [];

const gh = (path: string) => `https://github.com/${path}`;
const row = (task: Task) => page.locator(`tr[data-task="${task.id}"]`);
const stateOf = (task: Task) => services.journal.get(task.id)?.state;

beforeAll(async () => {
  if (!haveChromium) return;
  gates = gatedKinds();
  const settings = testSettings({ ADMIN_PASSWORD: "pw", CONTAINER_POOL: "eamonn,harry", CI_CONTAINER_POOL: "darren", MAX_CONCURRENT_TASKS: "2" });
  // Warm containers as Docker would list them: one repository's in eamonn.
  const lifecycle: ContainerLifecycle = {
    running: async (slot) => (slot === "eamonn" ? [{ repo: "acme/widgets", trust: "maintainers" }] : []),
    stop: async () => {},
  };
  services = testServices(settings, { kinds: gates.kinds, lifecycle });
  server = await startServer(settings, services);
  // A fresh profile every run: no cached credentials, pages or service workers from an earlier one.
  profile = await mkdtemp(join(tmpdir(), "devs-dashboard-chromium-"));
  context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
    httpCredentials: { username: "admin", password: "pw" },
    viewport: { width: 1280, height: 860 },
  });
  page = context.pages()[0] ?? (await context.newPage());
  page.on("dialog", (dialog) => {
    dialogs.push(dialog.message());
    void dialog.dismiss();
  });
  // The page's own script breaking the CSP would show here.
  page.on("console", (message) => void (message.type() === "error" && consoleErrors.push(message.text())));
  page.on("pageerror", (error) => void consoleErrors.push(error.message));
}, 60_000);

afterAll(async () => {
  await context?.close();
  if (profile) await rm(profile, { recursive: true, force: true });
  await server?.close();
  await services?.close();
});

describe.skipIf(!haveChromium)("the dashboard in Chromium", () => {
  it("shows tasks appear and change state without a reload, cancels a queued and a running task with its button, and keeps user text inert", async () => {
    await page.goto(`${server.url}/`);
    await page.locator("#conn", { hasText: "live" }).waitFor({ timeout: 10_000 });
    await page.evaluate(() => Object.assign(globalThis, { devsNoReload: true }));
    expect(await page.locator("#tasks").textContent()).toContain("no tasks yet");

    // Queued and started through the pool `serve` builds; the executor runs until the test lets it go.
    const hostile = agentTask({ repo: "acme/widgets", target: { number: 7, title: HOSTILE_TITLE, url: gh("acme/widgets/issues/7") } });
    await services.pool.submit(hostile);
    await row(hostile).and(page.locator('[data-state="running"]')).waitFor({ timeout: 10_000 });
    expect(await row(hostile).locator(".title").textContent()).toBe(HOSTILE_TITLE);
    expect(await page.locator('section[data-slot="eamonn"], section[data-slot="harry"]').filter({ hasText: "running acme/widgets #7" }).count()).toBe(1);

    const second = agentTaskOnPullRequest({ repo: "acme/gadgets", target: { number: 12, title: "Tidy the README", url: gh("acme/gadgets/pull/12") } });
    const third = agentTask({ repo: "acme/gadgets", target: { number: 13, title: "Add a CHANGELOG", url: gh("acme/gadgets/issues/13") } });
    await services.pool.submit(second);
    await services.pool.submit(third);
    await row(third).and(page.locator('[data-state="queued"]')).waitFor();
    // The queued one's slot lists it with its repository and number.
    await page.locator("ol.queue li", { hasText: "acme/gadgets #13" }).waitFor();

    // Cancel the queued task with its button.
    await row(third).getByRole("button", { name: "cancel" }).click();
    await row(third).and(page.locator('[data-state="cancelled"]')).waitFor();
    expect(stateOf(third)).toBe("cancelled");
    expect(await row(third).locator(".detail").textContent()).toBe("cancelled while queued by an operator");
    await page.locator("#last", { hasText: `cancelled ${third.id}` }).waitFor();

    // Cancel a running task: the pool aborts its executor, and it ends cancelled.
    await row(second).and(page.locator('[data-state="running"]')).waitFor();
    await row(second).getByRole("button", { name: "cancel" }).click();
    await row(second).and(page.locator('[data-state="cancelled"]')).waitFor();
    expect(services.journal.get(second.id)).toMatchObject({ state: "cancelled", detail: "cancelled while running by an operator" });

    // Its age moves on between snapshots (every 5 s), on the page's own clock.
    await row(hostile).locator("[data-since]").filter({ hasText: /^[1-9]\d*s$/ }).waitFor({ timeout: 4_000 });

    // Done, with its duration and the cost the model proxy counted.
    new UsageLedger(services.db).record({
      taskId: hostile.id,
      repo: "acme/widgets",
      month: "2026-12",
      usage: { inputTokens: 1200, outputTokens: 800, cacheCreationTokens: 0, cacheReadTokens: 0, costUsd: 0.421, requests: 3 },
    });
    gates.release(hostile.id);
    await row(hostile).and(page.locator('[data-state="done"]')).waitFor();
    expect(await row(hostile).textContent()).toContain("$0.4210");
    expect(await row(hostile).getByRole("link", { name: "progress comment" }).getAttribute("href")).toBe(gh("acme/widgets/issues/7"));
    expect(await row(hostile).getByRole("button").count()).toBe(0);

    // Nothing the title carried ran, the page's own script broke no rule, and it never reloaded.
    expect(dialogs).toEqual([]);
    expect(await page.locator("#tasks img, #pool img, #tasks script, #pool script").count()).toBe(0);
    expect(consoleErrors).toEqual([]);
    expect(await page.evaluate(() => (globalThis as { devsNoReload?: boolean }).devsNoReload)).toBe(true);

    await screenshotScene();
  });
});

/** A busy moment for the README's picture, saved only when DEVS_DASHBOARD_SCREENSHOT names a file. */
async function screenshotScene(): Promise<void> {
  const path = process.env.DEVS_DASHBOARD_SCREENSHOT;
  if (!path) return;
  const running = agentTask({ repo: "acme/widgets", target: { number: 31, title: "Retry failed webhooks with backoff", url: gh("acme/widgets/issues/31") } });
  const ci = ciTaskOnPullRequest({ repo: "acme/widgets", target: { number: 30, title: "Retry failed webhooks", url: gh("acme/widgets/pull/30") } });
  const waiting = agentTask({ repo: "acme/gadgets", target: { number: 14, title: "Explain the config keys in the README", url: gh("acme/gadgets/issues/14") } });
  // One at a time: which task takes the second of MAX_CONCURRENT_TASKS=2 is otherwise a race.
  for (const [task, state] of [[ci, "running"], [running, "running"], [waiting, "queued"]] as const) {
    await services.pool.submit(task);
    await until(() => stateOf(task) === state && services.journal.get(task.id)?.slot);
  }
  // Let the clock move so the ages and durations are not all 0s.
  await new Promise((resolve) => setTimeout(resolve, 2_200));
  await until(async () => (await page.locator("#tasks tbody tr").count()) === 6);
  await page.screenshot({ path, fullPage: true });
  for (const task of [running, ci, waiting]) gates.release(task.id);
}
