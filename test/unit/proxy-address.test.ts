import type Docker from "dockerode";
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { hostAddressFor } from "../../src/containers/network.js";

/** The engine's answer for `docker network inspect <name>`, or its refusal. */
function engine(networks: Record<string, unknown>): Docker {
  return {
    getNetwork: (name: string) => ({
      inspect: async () => {
        if (!(name in networks)) throw new Error(`network ${name} not found`);
        return networks[name];
      },
    }),
  } as unknown as Docker;
}

function recordingLog() {
  const lines: string[] = [];
  return { log: pino({ level: "warn" }, { write: (l: string) => void lines.push(l) }), lines };
}

describe("where the model proxy listens", () => {
  it("on the bridge's IPv4 gateway, skipping an IPv6 one", async () => {
    const docker = engine({ bridge: { IPAM: { Config: [{ Subnet: "fd00::/64", Gateway: "fd00::1" }, { Subnet: "172.17.0.0/16", Gateway: "172.17.0.1" }] } } });
    expect(await hostAddressFor(docker, "bridge", recordingLog().log)).toBe("172.17.0.1");
  });
  it("on a named network's gateway", async () => {
    const docker = engine({ ci: { IPAM: { Config: [{ Gateway: "10.9.0.1" }] } } });
    expect(await hostAddressFor(docker, "ci", recordingLog().log)).toBe("10.9.0.1");
  });
  it("on loopback with host networking, which containers share", async () => {
    expect(await hostAddressFor(engine({}), "host", recordingLog().log)).toBe("127.0.0.1");
  });
  it("on loopback, with a warning, when containers have no network or the network has no gateway", async () => {
    const none = recordingLog();
    expect(await hostAddressFor(engine({}), "none", none.log)).toBe("127.0.0.1");
    expect(none.lines.join("")).toContain("cannot reach the model proxy");
    const missing = recordingLog();
    expect(await hostAddressFor(engine({}), "bridge", missing.log)).toBe("127.0.0.1");
    expect(missing.lines.join("")).toContain("set MODEL_PROXY_HOST");
    const bare = recordingLog();
    expect(await hostAddressFor(engine({ bridge: { IPAM: { Config: [] } } }), "bridge", bare.log)).toBe("127.0.0.1");
    expect(bare.lines.join("")).toContain("no IPv4 gateway");
  });
  it("never on every interface", async () => {
    const docker = engine({ odd: { IPAM: { Config: [{ Gateway: "0.0.0.0" }] } } });
    expect(await hostAddressFor(docker, "odd", recordingLog().log)).toBe("127.0.0.1");
  });
});
