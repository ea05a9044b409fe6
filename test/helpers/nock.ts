// Strict nock for tests that talk to GitHub: no real network except loopback (local servers and
// stand-ins), and after each test, a failure when a request matched no interceptor or an
// interceptor was never used. A test that must show a request is NOT made needs no trap: any such
// request fails it here.
import nock from "nock";
import { afterEach, beforeEach, expect } from "vitest";

const LOOPBACK = /^(localhost|127(?:\.\d{1,3}){3}|\[?::1\]?)(?::\d+)?$/i;

/** Whether a host (with or without its port) is this machine. */
export function isLoopback(host: string | undefined): boolean {
  return LOOPBACK.test(host ?? "");
}

interface SeenRequest {
  method?: string;
  host?: string;
  hostname?: string;
  path?: string;
}

/** Call once at the top of a test file. */
export function strictNock(): void {
  let unmatched: string[] = [];
  // nock passes the request, or its options, first; the options second when it has both.
  const onNoMatch = (request: SeenRequest, options?: SeenRequest) => {
    const seen = { ...request, ...options };
    const host = seen.hostname ?? seen.host;
    if (!isLoopback(host)) unmatched.push(`${seen.method ?? "?"} ${host ?? "?"}${seen.path ?? ""}`);
  };
  beforeEach(() => {
    unmatched = [];
    nock.disableNetConnect();
    nock.enableNetConnect(isLoopback);
    nock.emitter.on("no match", onNoMatch);
  });
  afterEach(() => {
    nock.emitter.removeListener("no match", onNoMatch);
    const unused = nock.pendingMocks();
    nock.cleanAll();
    nock.enableNetConnect();
    expect({ unmatched, unused }, "requests no interceptor matched, and interceptors never used").toEqual({ unmatched: [], unused: [] });
  });
}
