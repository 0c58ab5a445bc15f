import { type FormEvent, useState } from "react";
import { ConfirmButton } from "../../components/ConfirmButton";
import { ErrorBanner, FormError } from "../../components/ErrorBanner";
import { formatDateTime } from "../../components/format";
import { Loading } from "../../components/Loading";
import { StatusBadge } from "../../components/StatusBadge";
import { type ApiError, toApiError } from "../../hooks/apiErrors";
import { type Abilities, ROLE_LABEL } from "../../hooks/roles";
import {
  addMember,
  changeMemberRole,
  listMembers,
  type Member,
  removeMember,
  type Role,
  ROLES,
} from "../../hooks/studioApi";
import { useAsync } from "../../hooks/useAsync";
import { useAuth } from "../../hooks/useAuth";

interface Props {
  projectId: number;
  can: Abilities;
  /** Membership changed (counts, maybe the user's own role). */
  onChanged: () => void;
}

function RoleSelect({
  value,
  onChange,
  disabled,
  label,
}: {
  value: Role;
  onChange: (role: Role) => void;
  disabled?: boolean;
  label: string;
}) {
  return (
    <select aria-label={label} value={value} disabled={disabled} onChange={(e) => onChange(e.target.value as Role)}>
      {ROLES.map((role) => (
        <option key={role} value={role}>
          {ROLE_LABEL[role]}
        </option>
      ))}
    </select>
  );
}

/** Members and their roles; managers add by username, change roles and remove. */
export function MembersPanel({ projectId, can, onChanged }: Props) {
  const { user } = useAuth();
  const members = useAsync(() => listMembers(projectId), [projectId]);
  const [username, setUsername] = useState("");
  const [role, setRole] = useState<Role>("annotator");
  const [addError, setAddError] = useState<ApiError | null>(null);
  const [rowError, setRowError] = useState<ApiError | null>(null);
  const [busy, setBusy] = useState(false);

  const replace = (member: Member) =>
    members.setData((page) =>
      page && { ...page, results: page.results.map((m) => (m.user_id === member.user_id ? member : m)) },
    );

  const onAdd = async (event: FormEvent) => {
    event.preventDefault();
    setBusy(true);
    setAddError(null);
    try {
      await addMember(projectId, username.trim(), role);
      setUsername("");
      members.reload();
      onChanged();
    } catch (failure) {
      setAddError(toApiError(failure));
    } finally {
      setBusy(false);
    }
  };

  const onRole = async (member: Member, next: Role) => {
    setRowError(null);
    try {
      replace(await changeMemberRole(projectId, member.user_id, next));
      onChanged();
    } catch (failure) {
      setRowError(toApiError(failure));
    }
  };

  const onRemove = async (member: Member) => {
    setRowError(null);
    try {
      await removeMember(projectId, member.user_id);
      members.reload();
      onChanged();
    } catch (failure) {
      setRowError(toApiError(failure));
    }
  };

  return (
    <section className="panel" aria-label="Members">
      <div className="panel-header">
        <h2 className="panel-title">Members</h2>
        <span className="muted">
          Managers run the project; annotators draw and submit; reviewers accept or reject.
        </span>
      </div>
      {can.manage ? (
        <form className="inline-form" onSubmit={onAdd} aria-label="Add member" data-testid="add-member-form">
          <input
            name="member-username"
            placeholder="Username"
            aria-label="Username to add"
            required
            value={username}
            onChange={(e) => setUsername(e.target.value)}
          />
          <RoleSelect label="Role of the new member" value={role} onChange={setRole} />
          <button type="submit" className="btn btn-primary btn-small" disabled={busy}>
            Add member
          </button>
          <FormError error={addError} />
        </form>
      ) : null}
      <ErrorBanner error={rowError} onDismiss={() => setRowError(null)} />
      <ErrorBanner error={members.error} onRetry={members.reload} context="Could not load members" />
      {members.loading && !members.data ? (
        <Loading />
      ) : members.data ? (
        <div className="table-wrap">
          <table className="table" aria-label="Members">
            <thead>
              <tr>
                <th>User</th>
                <th>Email</th>
                <th>Role</th>
                <th>Joined</th>
                {can.manage ? <th aria-label="Actions" /> : null}
              </tr>
            </thead>
            <tbody>
              {members.data.results.map((member) => {
                const name = [member.first_name, member.last_name].filter(Boolean).join(" ");
                return (
                  <tr key={member.user_id} data-testid={`member-row-${member.user_id}`}>
                    <td>
                      <strong>{member.username}</strong>
                      {name ? <span className="muted"> · {name}</span> : null}
                      {user?.id === member.user_id ? <span className="muted"> (you)</span> : null}
                    </td>
                    <td>{member.email || <span className="muted">—</span>}</td>
                    <td>
                      {can.manage ? (
                        <RoleSelect
                          label={`Role of ${member.username}`}
                          value={member.role}
                          onChange={(next) => onRole(member, next)}
                        />
                      ) : (
                        <StatusBadge status={`role-${member.role}`} label={ROLE_LABEL[member.role]} />
                      )}
                    </td>
                    <td className="nowrap">{formatDateTime(member.joined_at)}</td>
                    {can.manage ? (
                      <td className="actions">
                        <ConfirmButton
                          label="Remove"
                          confirmLabel={`Remove ${member.username}?`}
                          onConfirm={() => onRemove(member)}
                        />
                      </td>
                    ) : null}
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      ) : null}
    </section>
  );
}
