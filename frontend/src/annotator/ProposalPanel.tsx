/**
 * Model proposals: which proposal, overlay on/off and opacity, accept on this frame or on the
 * whole clip, and this frame's proposal instances (add one; hover for its provenance; the canvas
 * shows the same card when the pointer is over a proposed mask).
 */
import { useState } from "react";
import { ProvenanceCard } from "./ProvenanceCard";
import type { AnnotatorSession, SessionSnapshot } from "./session";

interface Props {
  session: AnnotatorSession;
  snap: SessionSnapshot;
  /** The proposal instance under the canvas pointer, if any. */
  hoveredIndex: number | null;
}

export function ProposalPanel({ session, snap, hoveredIndex }: Props) {
  const [listHover, setListHover] = useState<number | null>(null);
  const proposal = snap.proposals.find((p) => p.id === snap.proposalId) ?? null;
  const instances = proposal?.frames.find((f) => f.frame_index === snap.frame?.index)?.instances ?? [];
  const highlighted = listHover ?? hoveredIndex;
  const editDisabled = !snap.canEdit || !!snap.busy || !proposal;
  return (
    <section className="ann-panel" aria-label="Proposals">
      <header className="ann-panel-head">
        <h3>Proposals</h3>
        <label className="ann-inline">
          <input
            type="checkbox"
            data-testid="proposal-toggle"
            checked={snap.overlayVisible}
            onChange={(e) => session.setOverlay({ visible: e.target.checked })}
          />
          overlay (O)
        </label>
      </header>
      {snap.proposals.length === 0 ? (
        <p className="muted ann-empty">No proposals for this clip.</p>
      ) : (
        <>
          <select
            data-testid="proposal-select"
            value={snap.proposalId ?? ""}
            onChange={(e) => session.setProposal(e.target.value ? Number(e.target.value) : null)}
          >
            {snap.proposals.map((p) => (
              <option key={p.id} value={p.id}>
                #{p.id} {p.model_version.name} ({p.model_version.kind})
              </option>
            ))}
          </select>
          <label className="ann-inline">
            Opacity
            <input
              type="range"
              min={0}
              max={100}
              value={Math.round(snap.overlayOpacity * 100)}
              data-testid="proposal-opacity"
              onChange={(e) => session.setOverlay({ opacity: Number(e.target.value) / 100 })}
            />
          </label>
          <div className="ann-row">
            <button
              type="button"
              className="btn btn-small"
              data-testid="accept-proposal-frame"
              disabled={editDisabled || instances.length === 0}
              onClick={() => void session.acceptProposalFrame()}
              title="Add this proposal's instances on this frame to the annotation"
            >
              Accept on frame
            </button>
            <button
              type="button"
              className="btn btn-small"
              data-testid="accept-proposal-clip"
              disabled={!snap.canEdit || !!snap.busy || !proposal}
              onClick={() => void session.acceptProposalClip()}
              title="Create a draft from the proposal on every frame without an annotation"
            >
              Accept on clip
            </button>
          </div>
          {instances.length === 0 ? <p className="muted ann-empty">Nothing proposed on this frame.</p> : null}
          <ul className="ann-proposals">
            {instances.map((instance, k) => (
              <li
                key={k}
                data-testid={`proposal-instance-${k}`}
                className={highlighted === k ? "ann-proposal-hover" : undefined}
                onMouseEnter={() => setListHover(k)}
                onMouseLeave={() => setListHover(null)}
              >
                <span className="ann-swatch" style={{ background: snap.colours.get(instance.label) ?? "#fff" }} />
                <span className="ann-instance-label">{instance.label}</span>
                <span className="muted">{instance.score.toFixed(2)}</span>
                <button
                  type="button"
                  className="btn btn-small btn-ghost"
                  data-testid={`proposal-add-${k}`}
                  disabled={!snap.canEdit}
                  onClick={() => session.addProposalInstance(k)}
                  title="Copy this instance into the annotation"
                >
                  Add
                </button>
              </li>
            ))}
          </ul>
          {listHover !== null && instances[listHover] ? (
            <ProvenanceCard instance={instances[listHover]} colour={snap.colours.get(instances[listHover].label)} />
          ) : null}
        </>
      )}
    </section>
  );
}
