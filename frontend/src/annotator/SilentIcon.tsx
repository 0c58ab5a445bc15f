/** A speaker with a cross: "silent here" (an object tracked in the frame whose sound is absent). Drawn, not an emoji, so every system shows it. */
export function SilentIcon({ size = 12 }: { size?: number }) {
  return (
    <svg className="ann-icon" width={size} height={size} viewBox="0 0 16 16" aria-hidden="true" focusable="false">
      <path d="M2 6h3l4-3.5v11L5 10H2z" fill="currentColor" />
      <path d="M11 5.5l4 5M15 5.5l-4 5" stroke="currentColor" strokeWidth="1.6" strokeLinecap="round" />
    </svg>
  );
}
