// Where a task container reaches the host: the address the model proxy listens on. Bridge-like
// networks reach the host at their gateway; `host` shares the host's loopback. The proxy never
// listens on every interface, so it is not exposed beyond the containers.
import type Docker from "dockerode";
import type { Logger } from "pino";

const LOOPBACK = "127.0.0.1";

export async function hostAddressFor(docker: Docker, network: string, log: Pick<Logger, "warn">): Promise<string> {
  if (network === "host") return LOOPBACK;
  if (network === "none") {
    log.warn("CONTAINER_NETWORK=none: task containers cannot reach the model proxy, so the agent cannot reach the model");
    return LOOPBACK;
  }
  try {
    const info = (await docker.getNetwork(network).inspect()) as { IPAM?: { Config?: Array<{ Gateway?: string }> } };
    const gateway = info.IPAM?.Config?.map((c) => c.Gateway).find((g): g is string => Boolean(g && /^\d+\.\d+\.\d+\.\d+$/.test(g) && g !== "0.0.0.0"));
    if (gateway) return gateway;
    log.warn({ network }, "the container network has no IPv4 gateway; the model proxy listens on 127.0.0.1 (set MODEL_PROXY_HOST)");
  } catch (error) {
    log.warn({ err: error, network }, "could not inspect the container network; the model proxy listens on 127.0.0.1 (set MODEL_PROXY_HOST)");
  }
  return LOOPBACK;
}
