import type { Proposer } from "../../hooks/studioApi";

/**
 * One line saying which model pre-annotation runs: OpenAVS (by name), a trained student (by name),
 * or the weight-free baseline and why.
 */
export function proposerText(proposer: Proposer): string {
  if (proposer.kind === "openavs") return `Proposer: OpenAVS (${proposer.name})`;
  if (proposer.kind === "student") return `Proposer: ${proposer.name}`;
  return proposer.reason
    ? `Proposer: weight-free baseline — ${proposer.reason}`
    : `Proposer: weight-free baseline (${proposer.name})`;
}

/** The project's proposer, shown next to the pre-annotate action (decided by the server, without loading models). */
export function ProposerStatus({ proposer }: { proposer: Proposer | undefined }) {
  if (!proposer) return null;
  return (
    <span
      className={`proposer proposer-${proposer.kind}`}
      data-testid="proposer-status"
      title={proposer.kind === "baseline" ? `${proposer.name}: ${proposer.reason ?? ""}` : proposer.name}
    >
      {proposerText(proposer)}
    </span>
  );
}
