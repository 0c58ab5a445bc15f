/**
 * The label: from the project's vocabulary or typed freely (open vocabulary: a new name joins the
 * project when saved). Applies to the selected instance(s), else to the next new instance.
 */
import type { AnnotatorSession, SessionSnapshot } from "./session";

interface Props {
  session: AnnotatorSession;
  snap: SessionSnapshot;
}

export function LabelPicker({ session, snap }: Props) {
  const target = snap.selectedIds.length ? `${snap.selectedIds.length} selected` : "new instances";
  return (
    <section className="ann-panel" aria-label="Label">
      <header className="ann-panel-head">
        <h3>Label</h3>
        <span className="muted">for {target}</span>
      </header>
      <div className="ann-label-row">
        <span className="ann-swatch" style={{ background: snap.colours.get(snap.labelDraft) ?? "#ccc" }} />
        <input
          type="text"
          list="ann-vocabulary"
          value={snap.labelDraft}
          data-testid="label-input"
          placeholder="label, e.g. dog"
          maxLength={100}
          disabled={!snap.canEdit}
          onChange={(e) => session.setLabelDraft(e.target.value)}
          onBlur={(e) => session.commitLabel(e.target.value)}
          onKeyDown={(e) => {
            if (e.key === "Enter") {
              session.commitLabel(e.currentTarget.value);
              e.currentTarget.blur();
            } else if (e.key === "Escape") {
              e.currentTarget.blur();
            }
          }}
        />
        <datalist id="ann-vocabulary">
          {snap.vocabulary.map((l) => (
            <option key={l.name} value={l.name} />
          ))}
        </datalist>
      </div>
      {snap.vocabulary.length ? (
        <div className="ann-chips">
          {snap.vocabulary.map((l) => (
            <button
              type="button"
              key={l.name}
              className={`ann-chip${l.name === snap.labelDraft ? " ann-chip-active" : ""}`}
              data-testid={`label-option-${l.name}`}
              disabled={!snap.canEdit}
              onClick={() => session.commitLabel(l.name)}
            >
              <span className="ann-swatch" style={{ background: l.color }} />
              {l.name}
            </button>
          ))}
        </div>
      ) : (
        <p className="muted ann-empty">The project has no labels yet: type one.</p>
      )}
    </section>
  );
}
