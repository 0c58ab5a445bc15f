/** A coloured status pill: clip statuses, job statuses, annotation statuses, roles. */
export function StatusBadge({ status, label }: { status: string; label?: string }) {
  return (
    <span className={`badge badge-${status}`} data-status={status}>
      {label ?? status}
    </span>
  );
}
