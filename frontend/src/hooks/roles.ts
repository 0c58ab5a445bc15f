/**
 * What a role may do in a project, mirroring the server's checks
 * (server/accounts/selectors.py `project_access`: managers and admins pass every role check).
 * The server stays the authority; this only decides which actions are shown.
 */

/** A project role as the server reports it: manager, annotator, reviewer, or admin (superusers). */
export type ProjectRole = string;

export interface Abilities {
  manage: boolean; // settings, members, uploads, label edit/delete
  upload: boolean;
  addLabels: boolean;
  review: boolean;
  annotate: boolean;
}

export function abilitiesFor(role: ProjectRole | undefined): Abilities {
  const manager = role === "manager" || role === "admin";
  return {
    manage: manager,
    upload: manager,
    addLabels: manager || role === "annotator",
    review: manager || role === "reviewer",
    annotate: manager || role === "annotator",
  };
}

export const ROLE_LABEL: Record<string, string> = {
  manager: "Manager",
  annotator: "Annotator",
  reviewer: "Reviewer",
  admin: "Admin",
};
