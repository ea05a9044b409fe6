// Who may use the bot, and on which repositories. Pure: GitHub is asked by the caller.
import type { AllowList } from "../settings.js";

/** ALLOWED_ORGS + ALLOWED_USERS, by owner login; both empty = every owner (checked first). */
export function isOwnerAllowed(owner: string, allowedOwners: readonly string[]): boolean {
  return allowedOwners.length === 0 || allowedOwners.includes(owner.toLowerCase());
}

export type AccessVerdict = "allowed" | "denied" | "ask-github";

/** A configured list answers directly; the empty default asks GitHub for the user's permission. */
export function checkAllowList(login: string, list: AllowList): AccessVerdict {
  switch (list.kind) {
    case "everyone":
      return "allowed";
    case "users":
      return list.users.includes(login.toLowerCase()) ? "allowed" : "denied";
    case "write-access":
      return "ask-github";
  }
}

/**
 * The collaborator-permission API answers `permission` (admin, write, read, none; maintain is
 * reported as write and triage as read) and `role_name` (admin, maintain, write, triage, read, or
 * a custom role). Write or better may trigger.
 */
export function permissionAllowsTrigger(permission: string | null | undefined, roleName?: string | null): boolean {
  const strong = ["admin", "maintain", "write"];
  return strong.includes((permission ?? "").toLowerCase()) || strong.includes((roleName ?? "").toLowerCase());
}
