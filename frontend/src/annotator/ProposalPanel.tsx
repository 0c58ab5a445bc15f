/**
 * Model proposals: which proposal (or mask propagation) the overlay shows, overlay on/off and
 * opacity, accept on this frame or on the whole clip, and this frame's proposed instances (add one;
 * hover for its provenance; the canvas shows the same card when the pointer is over a proposed
 * mask). A propagation's accept actions are in the Propagate panel.
 */
import { useState } from "react";
import { ProvenanceCard } from "./ProvenanceCard";
import { SilentIcon } from "./SilentIcon";
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
  const instances = snap.overlayInstances;
  const finished = snap.propagations.filter((p) => p.status === "succeeded");
  const value = snap.propagationId !== null ? `propagation:${snap.propagationId}` : snap.proposalId !== null ? `proposal:${snap.proposalId}` : "";
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
      {snap.proposals.length === 0 && finished.length === 0 ? (
        <p className="muted ann-empty">No proposals for this clip.</p>
      ) : (
        <>
          <select
            data-testid="proposal-select"
            value={value}
            onChange={(e) => {
              const [kind, id] = e.target.value.split(":");
              if (kind === "propagation") session.setPropagation(Number(id));
              else session.setProposal(id ? Number(id) : null);
            }}
          >
            {value === "" ? <option value="">(none)</option> : null}
            {snap.proposals.map((p) => (
              <option key={`proposal:${p.id}`} value={`proposal:${p.id}`}>
                #{p.id} {p.model_version.name} ({p.model_version.kind})
              </option>
            ))}
            {finished.map((p) => (
              <option key={`propagation:${p.id}`} value={`propagation:${p.id}`} data-testid={`propagation-option-${p.id}`}>
                Propagation #{p.id}: frames {p.start_frame_index + 1}–{p.end_frame_index + 1} ({p.direction}, {p.tracker})
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
          {proposal ? (
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
          ) : null}
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
                {"sounding" in instance && instance.sounding === false ? (
                  <span className="ann-flag ann-flag-silent" title="Visible but not sounding in this frame's audio window: background in AVS">
                    <SilentIcon /> silent
                  </span>
                ) : null}
                <button
                  type="button"
                  className="btn btn-small btn-ghost"
                  data-testid={`proposal-add-${k}`}
                  disabled={!snap.canEdit || !proposal}
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
