interface ProgressBarProps {
  /** 0–1 */
  value: number;
  /** Text after the bar, e.g. "12 / 40". Defaults to the percentage. */
  label?: string;
  tone?: "default" | "success" | "danger" | "muted";
  /** Animated stripes while work is under way. */
  active?: boolean;
  title?: string;
}

export function ProgressBar({ value, label, tone = "default", active = false, title }: ProgressBarProps) {
  const clamped = Math.max(0, Math.min(1, Number.isFinite(value) ? value : 0));
  const percent = Math.round(clamped * 100);
  return (
    <div className="progress" title={title}>
      <div
        className={`progress-track${active ? " progress-active" : ""}`}
        role="progressbar"
        aria-valuemin={0}
        aria-valuemax={100}
        aria-valuenow={percent}
        aria-label={title}
      >
        <div className={`progress-fill progress-${tone}`} style={{ width: `${percent}%` }} />
      </div>
      <span className="progress-label">{label ?? `${percent}%`}</span>
    </div>
  );
}
