import { useEffect } from "react";
import { ErrorBanner } from "../../components/ErrorBanner";
import { getWorkerHealth, type WorkerHealth } from "../../hooks/studioApi";
import { useAsync } from "../../hooks/useAsync";

/** How often the line re-reads the workers while it is shown (the server caches its answer a few seconds). */
export const WORKERS_POLL_MS = 10000;

function QueueSummary({ queue }: { queue: WorkerHealth["queues"][number] }) {
  const waiting = queue.length === null ? "? waiting" : `${queue.length} waiting`;
  const workers = queue.workers.length;
  return (
    <span
      data-testid={`worker-queue-${queue.name}`}
      className={queue.served ? undefined : "worker-queue-unserved"}
      title={queue.waiting_reason ?? (queue.length_note || queue.workers.join(", "))}
    >
      {queue.name}: {queue.served ? `${workers} worker${workers === 1 ? "" : "s"}` : "no worker"}, {waiting}
    </span>
  );
}

/** A compact line for admins and managers: alive workers, and per queue who serves it and how much waits. */
export function WorkersLine() {
  const health = useAsync(() => getWorkerHealth(), []);
  const reload = health.reload;
  useEffect(() => {
    const timer = setInterval(reload, WORKERS_POLL_MS);
    return () => clearInterval(timer);
  }, [reload]);
  const data = health.data;
  return (
    <div className="workers-line" aria-label="Workers" data-testid="workers-line">
      <strong>Workers</strong>
      <ErrorBanner error={health.error} onRetry={reload} context="Could not read the workers" />
      {!data ? (
        health.error ? null : <span className="muted">asking…</span>
      ) : data.mode === "eager" ? (
        <span className="muted">tasks run inside the web server (no workers needed)</span>
      ) : !data.broker.reachable ? (
        <span className="worker-broker-down" role="alert">
          {data.broker.error}
        </span>
      ) : (
        <>
          <span data-testid="workers-alive" title={data.workers.map((w) => `${w.name}: ${w.queues.join(", ")}`).join("\n")}>
            {data.workers.length} alive
          </span>
          {data.inspect_error ? <span className="muted">{data.inspect_error}</span> : null}
          {data.queues.map((queue) => (
            <QueueSummary key={queue.name} queue={queue} />
          ))}
        </>
      )}
    </div>
  );
}
