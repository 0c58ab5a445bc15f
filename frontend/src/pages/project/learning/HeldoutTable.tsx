import { formatMetric } from "../../../components/format";
import { type HeldoutComparison, rowWinner } from "../../../model/training";

interface Props {
  comparison: HeldoutComparison;
  /** The name of the proposer the round was judged against (its proposer when it started). */
  proposerName: string;
  testId?: string;
}

/** A round's held-out figures: the student and the proposer side by side, the better one in bold. */
export function HeldoutTable({ comparison, proposerName, testId }: Props) {
  return (
    <table className="table table-compare table-heldout" aria-label="Held-out figures" data-testid={testId}>
      <thead>
        <tr>
          <th>Held-out split</th>
          <th className="num">Student</th>
          <th className="num" title="The proposer when the round started, on the same held-out clips">
            Proposer <div className="th-sub">{proposerName}</div>
          </th>
        </tr>
      </thead>
      <tbody>
        {comparison.rows.map((row) => {
          const winner = rowWinner(row, comparison);
          return (
            <tr key={row.key} data-row={row.key}>
              <td>{row.label}</td>
              <td className={`num${winner === "student" ? " best" : ""}`}>{formatMetric(comparison.student[row.key])}</td>
              <td className={`num${winner === "proposer" ? " best" : ""}`}>{formatMetric(comparison.proposer[row.key])}</td>
            </tr>
          );
        })}
      </tbody>
    </table>
  );
}
