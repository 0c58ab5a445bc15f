export function ColorSwatch({ color, title }: { color: string; title?: string }) {
  return <span className="swatch" style={{ backgroundColor: color }} title={title ?? color} aria-hidden="true" />;
}
