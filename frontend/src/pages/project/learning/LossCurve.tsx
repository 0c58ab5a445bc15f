import { formatMetric } from "../../../components/format";
import { curvePoints } from "../../../model/training";

const WIDTH = 180;
const HEIGHT = 56;

/**
 * The training curve of a round (mean loss per epoch) as a small inline SVG: epochs left to right,
 * loss bottom (lowest) to top (highest), with the first and last values written beside it.
 */
export function LossCurve({ values, testId }: { values: readonly number[]; testId?: string }) {
  if (values.length === 0) return null;
  const first = values[0];
  const last = values[values.length - 1];
  const summary = `Training loss over ${values.length} epoch${values.length === 1 ? "" : "s"}: ${formatMetric(first)} → ${formatMetric(last)}`;
  return (
    <figure className="loss-curve" data-testid={testId}>
      <svg
        width={WIDTH}
        height={HEIGHT}
        viewBox={`0 0 ${WIDTH} ${HEIGHT}`}
        role="img"
        aria-label={summary}
        data-points={values.length}
      >
        <title>{summary}</title>
        <rect x={0} y={0} width={WIDTH} height={HEIGHT} className="loss-curve-frame" />
        <polyline points={curvePoints(values, WIDTH, HEIGHT, 4)} className="loss-curve-line" />
      </svg>
      <figcaption className="small muted">
        Loss {formatMetric(first)} → {formatMetric(last)} ({values.length} epoch{values.length === 1 ? "" : "s"})
      </figcaption>
    </figure>
  );
}
