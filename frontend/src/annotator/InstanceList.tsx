/** The frame's instances: colour, label, area; select (Shift/Ctrl adds), hide/show, delete. */
import { maskArea, type Mask } from "../model/mask";
import type { AnnotatorSession, SessionSnapshot } from "./session";

const areas = new WeakMap<Mask, number>();
function area(mask: Mask): number {
  let a = areas.get(mask);
  if (a === undefined) {
    a = maskArea(mask);
    areas.set(mask, a);
  }
  return a;
}

interface Props {
  session: AnnotatorSession;
  snap: SessionSnapshot;
}

export function InstanceList({ session, snap }: Props) {
  const instances = snap.doc?.instances ?? [];
  const total = snap.frame ? snap.frame.width * snap.frame.height : 1;
  return (
    <section className="ann-panel" aria-label="Instances">
      <header className="ann-panel-head">
        <h3>Instances</h3>
        <button
          type="button"
          className="btn btn-small"
          data-testid="instance-new"
          disabled={!snap.canEdit}
          onClick={() => session.select(null)}
          title="Deselect: the next brush stroke, polygon or SAM click starts a new instance"
        >
          + New
        </button>
      </header>
      {instances.length === 0 ? <p className="muted ann-empty">No instances on this frame yet.</p> : null}
      <ul className="ann-instances">
        {instances.map((instance, i) => {
          const selected = snap.selectedIds.includes(instance.id);
          const hidden = snap.hiddenIds.has(instance.id);
          const a = area(instance.mask);
          return (
            <li
              key={instance.id}
              className={`ann-instance${selected ? " ann-instance-selected" : ""}${hidden ? " ann-instance-hidden" : ""}`}
              data-testid={`instance-${i}`}
              data-label={instance.label}
              data-selected={selected ? "true" : "false"}
              data-hidden={hidden ? "true" : "false"}
              aria-selected={selected}
              onClick={(e) => session.select(instance.id, e.shiftKey || e.ctrlKey || e.metaKey)}
            >
              <span className="ann-swatch" style={{ background: snap.colours.get(instance.label) ?? "#fff" }} />
              <span className="ann-instance-label">{instance.label}</span>
              <span className="ann-instance-area muted" title={`${a} pixels`}>
                {((100 * a) / total).toFixed(1)}%
              </span>
              <button
                type="button"
                className="btn btn-small btn-ghost"
                data-testid={`instance-${i}-visibility`}
                aria-pressed={hidden}
                title={hidden ? "Show (H)" : "Hide (H)"}
                onClick={(e) => {
                  e.stopPropagation();
                  session.toggleHidden(instance.id);
                }}
              >
                {hidden ? "Show" : "Hide"}
              </button>
              <button
                type="button"
                className="btn btn-small btn-ghost"
                data-testid={`instance-${i}-delete`}
                disabled={!snap.canEdit}
                title="Delete (Delete)"
                onClick={(e) => {
                  e.stopPropagation();
                  session.deleteInstance(instance.id);
                }}
              >
                ✕
              </button>
            </li>
          );
        })}
      </ul>
    </section>
  );
}
