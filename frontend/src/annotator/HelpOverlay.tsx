/** Keyboard shortcuts and mouse gestures, from the one shortcut table (`model/keymap`). */
import { GESTURES, SHORTCUTS, type Shortcut } from "../model/keymap";

export function HelpOverlay({ onClose }: { onClose: () => void }) {
  const groups = new Map<Shortcut["group"], Shortcut[]>();
  for (const s of SHORTCUTS) groups.set(s.group, [...(groups.get(s.group) ?? []), s]);
  return (
    <div className="ann-modal-backdrop" onClick={onClose}>
      <div className="ann-modal ann-help" role="dialog" aria-modal="true" aria-label="Keyboard shortcuts" data-testid="help-overlay" onClick={(e) => e.stopPropagation()}>
        <header className="ann-panel-head">
          <h2>Keyboard shortcuts</h2>
          <button type="button" className="btn btn-small" onClick={onClose} data-testid="help-close">
            Close (?)
          </button>
        </header>
        <div className="ann-help-grid">
          {[...groups].map(([group, items]) => (
            <section key={group}>
              <h3>{group}</h3>
              <dl>
                {items.map((s) => (
                  <div key={s.action} className="ann-help-row">
                    <dt>
                      {s.keys.map((k) => (
                        <kbd key={k}>{k}</kbd>
                      ))}
                    </dt>
                    <dd>{s.description}</dd>
                  </div>
                ))}
              </dl>
            </section>
          ))}
          <section>
            <h3>Mouse</h3>
            <dl>
              {GESTURES.map((g) => (
                <div key={g.keys} className="ann-help-row">
                  <dt>
                    <kbd>{g.keys}</kbd>
                  </dt>
                  <dd>{g.description}</dd>
                </div>
              ))}
            </dl>
          </section>
        </div>
      </div>
    </div>
  );
}
