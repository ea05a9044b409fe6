// Finding a mention in a 64 KiB comment (GitHub's limit on a body), the text the trigger reads on
// every delivery: per shape of text, the median of 30 runs. Pure; no Docker.
//   node --import tsx bench/mention.bench.ts
// Target (issue 13): well under 20 ms for a 64 KiB body.
import { isStopCommand, mentions } from "../src/policy/mention.js";

const LIMIT = 65_536;
const fill = (unit: string) => unit.repeat(Math.ceil(LIMIT / unit.length)).slice(0, LIMIT - 40);

const shapes: Record<string, string> = {
  "prose, no mention": fill("Ordinary words of a long bug report, with details. "),
  "paragraphs, mention at the end": `${fill("A paragraph of a long bug report.\n\n")}\n\n@devs-bot please fix`,
  "quotes and lists, mention at the end": `${fill("> quoted reply\n\n- item\n- item\n\n")}\n\n@devs-bot please fix`,
  "logs in a fence, mention after": `\`\`\`\n${fill("2026-12-02T05:00:00Z INFO worker started pid=4242\n")}\n\`\`\`\n\n@devs-bot please fix`,
  "mention in every paragraph": fill("@devs-bot see *this* and `that`, [a link](https://x.test).\n\n"),
  "mention in every quote": fill("> @devs-bot quoted\n\n"),
  "mention in every quote in a list (worst)": fill("- > @devs-bot quoted\n\n"),
};

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
let worst = 0;
for (const [name, text] of Object.entries(shapes)) {
  for (let i = 0; i < 3; i++) mentions(text, "devs-bot");
  const times: number[] = [];
  let found = false;
  for (let i = 0; i < 30; i++) {
    const t0 = performance.now();
    found = mentions(text, "devs-bot");
    times.push(performance.now() - t0);
  }
  const ms = median(times);
  worst = Math.max(worst, ms);
  console.log(`${name.padEnd(40)} ${(text.length / 1024).toFixed(0)} KiB  mention=${found}  ${ms.toFixed(2)} ms`);
}
const stop = `@devs-bot stop\n\n<!-- ${fill("x")} -->`;
const t0 = performance.now();
isStopCommand(stop, "devs-bot");
console.log(`${"stop command with a 64 KiB comment".padEnd(40)} ${(performance.now() - t0).toFixed(2)} ms (one run)`);
console.log(`worst median: ${worst.toFixed(2)} ms (target: well under 20 ms)`);
