/** How a proposal instance was produced (audio tags → noun → box), from its `provenance`. */
import { describeProvenance } from "../model/provenance";
import type { ProposalInstance } from "./api";

export function ProvenanceCard({ instance, colour }: { instance: ProposalInstance; colour?: string }) {
  const steps = describeProvenance(instance.provenance);
  return (
    <div className="ann-provenance" data-testid="provenance" role="tooltip">
      <div className="ann-provenance-head">
        <span className="ann-swatch" style={{ background: colour ?? "#fff" }} />
        <strong>{instance.label}</strong>
        <span className="muted">score {instance.score.toFixed(2)}</span>
      </div>
      {steps.length ? (
        <ol className="ann-provenance-steps">
          {steps.map((s, k) => (
            <li key={k}>
              <span className="ann-provenance-title">{s.title}</span> {s.detail}
            </li>
          ))}
        </ol>
      ) : (
        <p className="muted">No provenance recorded.</p>
      )}
    </div>
  );
}
