/**
 * Review: the reviewer's comment on rejected work (for the annotator), and for reviewers/managers
 * on a submitted frame, accept or reject (a rejection needs a comment).
 */
import { useEffect, useState } from "react";
import type { Annotation } from "./api";
import type { AnnotatorSession, SessionSnapshot } from "./session";

export function ReviewComment({ annotation }: { annotation: Annotation | null }) {
  const review = annotation?.latest_review;
  if (!annotation || annotation.status !== "rejected" || !review || review.verdict !== "reject") return null;
  return (
    <div className="ann-review-comment" data-testid="review-comment" role="note">
      <strong>Rejected{review.reviewer ? ` by ${review.reviewer.username}` : ""}:</strong> <span>{review.comment}</span>
      <span className="muted"> Fix the masks, then submit again.</span>
    </div>
  );
}

interface Props {
  session: AnnotatorSession;
  snap: SessionSnapshot;
}

export function ReviewPanel({ session, snap }: Props) {
  const [comment, setComment] = useState("");
  const [error, setError] = useState<string | null>(null);
  const annotation = snap.annotation;
  useEffect(() => {
    setComment("");
    setError(null);
  }, [annotation?.id, annotation?.version]);
  if (!snap.canReview) return null;
  const next = session.nextSubmitted();
  const nextButton =
    snap.reviewMode || next >= 0 ? (
      <button
        type="button"
        className="btn btn-small"
        data-testid="review-next"
        disabled={next < 0}
        onClick={() => session.setFrame(next)}
        title="Go to the next submitted frame of this clip"
      >
        Next submitted →
      </button>
    ) : null;
  if (!annotation || annotation.status !== "submitted") {
    return snap.reviewMode ? (
      <section className="ann-panel ann-review" aria-label="Review">
        <header className="ann-panel-head">
          <h3>Review</h3>
          <span className="muted">{annotation ? annotation.status : "not annotated"}</span>
        </header>
        <p className="muted ann-empty">{next >= 0 ? "This frame is not waiting for review." : "No other frame of this clip waits for review."}</p>
        <div className="ann-row">{nextButton}</div>
      </section>
    ) : null;
  }
  const verdict = async (v: "accept" | "reject") => {
    if (v === "reject" && !comment.trim()) {
      setError("A rejection needs a comment telling the annotator what to fix.");
      return;
    }
    setError(null);
    if (await session.review(v, comment)) setComment("");
  };
  return (
    <section className="ann-panel ann-review" aria-label="Review" data-testid="review-panel">
      <header className="ann-panel-head">
        <h3>Review</h3>
        <span className="muted">
          v{annotation.version}
          {annotation.author ? ` by ${annotation.author.username}` : ""}
        </span>
      </header>
      <textarea
        data-testid="review-comment-input"
        placeholder="Comment (required to reject)"
        rows={3}
        value={comment}
        onChange={(e) => setComment(e.target.value)}
      />
      {error ? (
        <p className="ann-error" data-testid="review-error" role="alert">
          {error}
        </p>
      ) : null}
      <div className="ann-row">
        <button type="button" className="btn btn-small btn-primary" data-testid="review-accept" disabled={!!snap.busy} onClick={() => void verdict("accept")}>
          Accept
        </button>
        <button type="button" className="btn btn-small btn-danger-ghost" data-testid="review-reject" disabled={!!snap.busy} onClick={() => void verdict("reject")}>
          Reject
        </button>
        {nextButton}
      </div>
    </section>
  );
}
