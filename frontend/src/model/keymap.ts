/**
 * Keyboard shortcuts of the annotator: one table, used both to dispatch keys and to render the help
 * overlay, so the two never disagree. Letter keys fire without Ctrl/Meta/Alt only.
 */
export type Action =
  | "tool.brush"
  | "tool.eraser"
  | "tool.polygon"
  | "tool.sam"
  | "tool.select"
  | "sam.negative"
  | "brush.smaller"
  | "brush.larger"
  | "frame.next"
  | "frame.previous"
  | "undo"
  | "redo"
  | "save"
  | "copy.next"
  | "propagate"
  | "proposals.toggle"
  | "instance.delete"
  | "instance.visibility"
  | "instance.deselect"
  | "view.fit"
  | "audio.playPause"
  | "help";

export interface KeyLike {
  key: string;
  ctrlKey: boolean;
  metaKey: boolean;
  shiftKey: boolean;
  altKey: boolean;
}

export interface Shortcut {
  action: Action;
  /** How the keys are shown, e.g. ["D", "→"]. */
  keys: string[];
  description: string;
  group: "Tools" | "Frames" | "Edit" | "View";
  match: (e: KeyLike) => boolean;
}

const plain = (...keys: string[]) => (e: KeyLike) =>
  !e.ctrlKey && !e.metaKey && !e.altKey && keys.includes(e.key.length === 1 ? e.key.toLowerCase() : e.key);
const withCtrl = (key: string, shift: boolean) => (e: KeyLike) =>
  (e.ctrlKey || e.metaKey) && !e.altKey && e.shiftKey === shift && e.key.toLowerCase() === key;

export const SHORTCUTS: readonly Shortcut[] = [
  { action: "tool.brush", keys: ["B"], description: "Brush: paint the selected mask", group: "Tools", match: plain("b") },
  { action: "tool.eraser", keys: ["E"], description: "Eraser", group: "Tools", match: plain("e") },
  { action: "tool.polygon", keys: ["P"], description: "Polygon: click points, Enter or double-click closes, Esc cancels, Backspace removes the last point", group: "Tools", match: plain("p") },
  { action: "tool.sam", keys: ["S"], description: "SAM: click a positive point, Alt/Shift/right-click a negative one, drag a box", group: "Tools", match: plain("s") },
  { action: "tool.select", keys: ["V"], description: "Select: click a mask to select it", group: "Tools", match: plain("v") },
  { action: "sam.negative", keys: ["N"], description: "SAM: toggle negative points", group: "Tools", match: plain("n") },
  { action: "brush.smaller", keys: ["["], description: "Smaller brush/eraser", group: "Tools", match: plain("[") },
  { action: "brush.larger", keys: ["]"], description: "Larger brush/eraser", group: "Tools", match: plain("]") },
  { action: "frame.next", keys: ["D", "→"], description: "Next frame", group: "Frames", match: plain("d", "ArrowRight") },
  { action: "frame.previous", keys: ["A", "←"], description: "Previous frame", group: "Frames", match: plain("a", "ArrowLeft") },
  { action: "copy.next", keys: ["C"], description: "Copy the selected mask(s) to the next frame", group: "Frames", match: plain("c") },
  { action: "propagate", keys: ["T"], description: "Propagate the selected mask(s) (Propagate panel)", group: "Frames", match: plain("t") },
  { action: "audio.playPause", keys: ["K"], description: "Play / pause the audio", group: "Frames", match: plain("k") },
  { action: "undo", keys: ["Ctrl+Z"], description: "Undo (this frame; just after a range accept, that accept)", group: "Edit", match: withCtrl("z", false) },
  { action: "redo", keys: ["Ctrl+Shift+Z", "Ctrl+Y"], description: "Redo (this frame)", group: "Edit", match: (e) => withCtrl("z", true)(e) || withCtrl("y", false)(e) },
  { action: "save", keys: ["Ctrl+S"], description: "Save now", group: "Edit", match: withCtrl("s", false) },
  { action: "instance.delete", keys: ["Delete"], description: "Delete the selected instance", group: "Edit", match: plain("Delete") },
  { action: "instance.visibility", keys: ["H"], description: "Hide / show the selected instance", group: "Edit", match: plain("h") },
  { action: "instance.deselect", keys: ["Esc"], description: "Cancel the current shape, then deselect", group: "Edit", match: plain("Escape") },
  { action: "proposals.toggle", keys: ["O"], description: "Show / hide the proposal overlay", group: "View", match: plain("o") },
  { action: "view.fit", keys: ["F"], description: "Fit the frame to the view", group: "View", match: plain("f") },
  { action: "help", keys: ["?"], description: "Show / hide this help", group: "View", match: (e) => !e.ctrlKey && !e.metaKey && e.key === "?" },
];

/** Mouse gestures, for the help overlay. */
export const GESTURES: readonly { keys: string; description: string }[] = [
  { keys: "Wheel", description: "Zoom at the pointer" },
  { keys: "Space + drag, middle button drag", description: "Pan" },
  { keys: "Click a thumbnail / the waveform", description: "Go to that frame" },
];

export function matchShortcut(e: KeyLike): Action | null {
  for (const s of SHORTCUTS) if (s.match(e)) return s.action;
  return null;
}
