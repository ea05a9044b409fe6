// safeName: each alphabet keeps making the names earlier runs made (they name containers, folders
// and images that already exist).
import { describe, expect, it } from "vitest";
import { safeName, type SafeAlphabet } from "../../src/names/safe-name.js";

describe("safeName", () => {
  it.each<[SafeAlphabet, string, string]>([
    ["alnum", "Acme.Widgets_2", "acme-widgets-2"],
    ["alnum", "--Hello, World!--", "hello-world"],
    ["alnum", "...", ""],
    ["docker", "Acme.Widgets_2", "acme.widgets_2"],
    ["docker", ".github", ".github"],
    ["docker", "a b//c", "a-b-c"],
    ["url", ".github-", "github"],
    ["url", "a b//c", "a-b-c"],
    ["file", "Acme/Wid gets", "acme_wid_gets"],
    ["file", "a  b", "a__b"],
  ])("%s: %j → %j", (alphabet, text, expected) => {
    expect(safeName(text, alphabet)).toBe(expected);
  });
});
