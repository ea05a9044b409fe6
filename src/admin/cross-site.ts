// Browsers send Basic credentials on their own, so a page elsewhere could make an admin's browser
// POST to the admin routes. A browser says where a request comes from (Sec-Fetch-Site, Origin);
// a request that comes from another site is refused, and a browser's POST must also carry a
// header that a form cannot set and a cross-origin script cannot send without a preflight we never
// allow. Scripts and the CLI send neither Origin nor Sec-Fetch-Site and are not affected. Pure.

/** The header the dashboard sends with its POSTs. */
const REQUESTED_WITH = "x-requested-with";

type Header = (name: string) => string | undefined;

/** Why a state-changing request is refused, or null when it may go on. */
export function crossSiteRefusal(header: Header): string | null {
  const site = header("sec-fetch-site");
  const origin = header("origin");
  if (site !== undefined) {
    // `none`: the user typed it or used a bookmark; only a page's own requests are same-origin.
    if (site !== "same-origin" && site !== "none") return `refused: a ${site} request (Sec-Fetch-Site) may not change anything here`;
  } else if (origin !== undefined && !sameOrigin(origin, header("host"))) {
    return `refused: a request from ${origin} may not change anything here`;
  }
  if ((site !== undefined || origin !== undefined) && !header(REQUESTED_WITH)) {
    return "refused: a browser's POST needs an X-Requested-With header (the dashboard sends one)";
  }
  return null;
}

function sameOrigin(origin: string, host: string | undefined): boolean {
  if (!host || origin === "null") return false;
  try {
    return new URL(origin).host === host.toLowerCase();
  } catch {
    return false;
  }
}
