import { describe, expect, it } from "vitest";
import type { ApiInstance } from "./frameDoc";
import { describeSaveStatus, SaveController, type Annotation, type SaveOutcome, type SaveRequest } from "./save";
import { FakeScheduler, settle } from "./testing/fakeScheduler";

const FRAME = 7;

function annotation(version: number, instances: ApiInstance[] = []): Annotation {
  return {
    id: 1,
    clip: 1,
    frame: FRAME,
    frame_index: 0,
    instances,
    version,
    status: "draft",
    author: { id: 1, username: "ann" },
    latest_review: null,
    created_at: "2024-01-01T00:00:00Z",
    updated_at: "2024-01-01T00:00:00Z",
  };
}

const stroke = (counts: string): ApiInstance[] => [{ label: "dog", mask: { size: [2, 2], counts } }];

/** A transport whose answers the test decides, one request at a time. */
class ScriptedTransport {
  requests: SaveRequest[] = [];
  private waiting: ((o: SaveOutcome) => void)[] = [];
  save = (request: SaveRequest): Promise<SaveOutcome> => {
    this.requests.push(request);
    return new Promise((resolve) => this.waiting.push(resolve));
  };
  async answer(outcome: SaveOutcome): Promise<void> {
    const next = this.waiting.shift();
    if (!next) throw new Error("no request is waiting for an answer");
    next(outcome);
    await settle();
  }
  async ok(version: number): Promise<void> {
    await this.answer({ kind: "ok", annotation: annotation(version) });
  }
}

function setup(initialVersion: number | null = 3) {
  const scheduler = new FakeScheduler();
  const transport = new ScriptedTransport();
  let instances = stroke("04");
  const saved: Annotation[] = [];
  const saver = new SaveController({
    transport,
    scheduler,
    payload: () => ({ instances }),
    onSaved: (_, a) => saved.push(a),
  });
  saver.track(FRAME, initialVersion);
  return {
    scheduler,
    transport,
    saver,
    saved,
    draw(counts: string) {
      instances = stroke(counts);
      saver.markChanged(FRAME);
    },
    get instances() {
      return instances;
    },
  };
}

describe("autosave", () => {
  it("saves once, 1.5 s after the last change, with the latest strokes and the base version", async () => {
    const t = setup();
    expect(t.saver.status(FRAME).kind).toBe("saved");
    t.draw("13");
    expect(t.saver.status(FRAME).kind).toBe("dirty");
    t.scheduler.advance(1000);
    t.draw("22");
    t.scheduler.advance(1000);
    t.draw("31");
    t.scheduler.advance(1499);
    expect(t.transport.requests).toHaveLength(0);
    t.scheduler.advance(1);
    expect(t.transport.requests).toHaveLength(1);
    expect(t.transport.requests[0]).toMatchObject({ frameId: FRAME, version: 3, instances: stroke("31") });
    expect(t.transport.requests[0].status).toBeUndefined(); // a draft save keeps the status
    expect(t.saver.status(FRAME).kind).toBe("saving");
    await t.transport.ok(4);
    expect(t.saver.status(FRAME).kind).toBe("saved");
    expect(t.saver.version(FRAME)).toBe(4);
    expect(t.saved.map((a) => a.version)).toEqual([4]);
  });

  it("does not wait for ever while edits keep coming (max wait 10 s)", () => {
    const t = setup();
    for (let i = 0; i < 10; i++) {
      t.draw(`0${i}`); // at 0 s, 1 s, … 9 s
      if (i < 9) t.scheduler.advance(1000);
    }
    t.scheduler.advance(999);
    expect(t.transport.requests).toHaveLength(0);
    t.scheduler.advance(1); // 10 s after the first unsaved change
    expect(t.transport.requests).toHaveLength(1);
    expect(t.transport.requests[0].instances).toEqual(stroke("09"));
  });

  it("saves edits made while a save was in flight right after it, on the new version", async () => {
    const t = setup();
    t.draw("13");
    t.scheduler.advance(1500);
    t.draw("22"); // during the request
    t.scheduler.advance(1500); // its debounce fires while the first is in flight: no second request yet
    expect(t.transport.requests).toHaveLength(1);
    await t.transport.ok(4);
    expect(t.transport.requests).toHaveLength(2);
    expect(t.transport.requests[1]).toMatchObject({ version: 4, instances: stroke("22") });
    await t.transport.ok(5);
    expect(t.saver.status(FRAME).kind).toBe("saved");
  });

  it("submit sends status submitted even without edits", async () => {
    const t = setup();
    const done = t.saver.submit(FRAME);
    expect(t.transport.requests[0]).toMatchObject({ status: "submitted", version: 3 });
    await t.transport.ok(4);
    await done;
    expect(t.saver.isDirty(FRAME)).toBe(false);
  });

  it("sends the time worked as time_spent_delta, once", async () => {
    const t = setup();
    t.saver.addTime(FRAME, 12.5);
    t.draw("13");
    t.scheduler.advance(1500);
    expect(t.transport.requests[0].time_spent_delta).toBe(12.5);
    await t.transport.ok(4);
    t.draw("22");
    t.scheduler.advance(1500);
    expect(t.transport.requests[1].time_spent_delta).toBe(0);
  });
});

describe("conflicts (409)", () => {
  const theirs = annotation(5, stroke("40"));
  const conflict: SaveOutcome = { kind: "conflict", message: "someone else saved first", currentVersion: 5, current: theirs };

  it("enters the conflict state, keeps the local strokes and pauses autosave", async () => {
    const t = setup();
    t.draw("13");
    t.scheduler.advance(1500);
    await t.transport.answer(conflict);
    const status = t.saver.status(FRAME);
    expect(status.kind).toBe("conflict");
    expect(t.saver.conflict()).toMatchObject({ frameId: FRAME, basedOn: 3, currentVersion: 5, current: theirs });
    expect(t.instances).toEqual(stroke("13")); // nothing touched the document
    expect(t.saver.isDirty(FRAME)).toBe(true);
    expect(t.saver.overall().kind).toBe("conflict");

    t.draw("22"); // more strokes while the dialog is open: kept, not sent
    t.scheduler.advance(60_000);
    expect(t.transport.requests).toHaveLength(1);
    expect(describeSaveStatus(t.saver.status(FRAME), 0)).toMatch(/someone else/);
  });

  it("overwrite resaves ours on top of the current version", async () => {
    const t = setup();
    t.draw("13");
    t.scheduler.advance(1500);
    await t.transport.answer(conflict);
    const done = t.saver.resolveOverwrite(FRAME);
    expect(t.transport.requests[1]).toMatchObject({ version: 5, instances: stroke("13") });
    await t.transport.ok(6);
    await done;
    expect(t.saver.status(FRAME).kind).toBe("saved");
    expect(t.saver.version(FRAME)).toBe(6);
  });

  it("reload takes their version as the base and leaves nothing unsaved", async () => {
    const t = setup();
    t.draw("13");
    t.scheduler.advance(1500);
    await t.transport.answer(conflict);
    t.saver.resolveReload(FRAME);
    expect(t.saver.status(FRAME).kind).toBe("saved");
    expect(t.saver.version(FRAME)).toBe(5);
    t.draw("22");
    t.scheduler.advance(1500);
    expect(t.transport.requests[1]).toMatchObject({ version: 5 });
  });
});

describe("network errors and 5xx", () => {
  it("retries with backoff, keeping the strokes and the unsent time, until it goes through", async () => {
    const t = setup();
    t.saver.addTime(FRAME, 4);
    t.draw("13");
    t.scheduler.advance(1500);
    await t.transport.answer({ kind: "unavailable", message: "You are offline." });
    let status = t.saver.status(FRAME);
    expect(status).toMatchObject({ kind: "retrying", attempt: 1, message: "You are offline." });
    expect(describeSaveStatus(status, t.scheduler.now())).toBe("Not saved: You are offline. Retrying in 1 s…");

    t.scheduler.advance(999);
    expect(t.transport.requests).toHaveLength(1);
    t.scheduler.advance(1);
    expect(t.transport.requests).toHaveLength(2);
    await t.transport.answer({ kind: "unavailable", message: "The server failed (502 Bad Gateway)." });
    status = t.saver.status(FRAME);
    expect(status).toMatchObject({ kind: "retrying", attempt: 2 });

    t.draw("22"); // strokes during the wait go out with the retry
    t.scheduler.advance(2000);
    expect(t.transport.requests).toHaveLength(3);
    expect(t.transport.requests[2]).toMatchObject({ version: 3, instances: stroke("22"), time_spent_delta: 4 });
    await t.transport.ok(4);
    expect(t.saver.status(FRAME).kind).toBe("saved");
  });

  it("a thrown fetch counts as unavailable; saveNow retries at once", async () => {
    const scheduler = new FakeScheduler();
    let calls = 0;
    const saver = new SaveController({
      scheduler,
      transport: {
        save: async () => {
          calls++;
          if (calls === 1) throw new TypeError("Failed to fetch");
          return { kind: "ok", annotation: annotation(1) };
        },
      },
      payload: () => ({ instances: [] }),
    });
    saver.track(FRAME, null);
    saver.markChanged(FRAME);
    scheduler.advance(1500);
    await settle();
    expect(saver.status(FRAME).kind).toBe("retrying");
    await saver.saveNow(FRAME);
    expect(calls).toBe(2);
    expect(saver.status(FRAME).kind).toBe("saved");
    expect(scheduler.pending).toBe(0);
  });

  it("other 4xx errors are shown, not retried; the next change tries again", async () => {
    const t = setup();
    t.draw("13");
    t.scheduler.advance(1500);
    await t.transport.answer({ kind: "failed", message: "instances[0].mask is 2x2 (HxW) but the frame is 4x4.", httpStatus: 400 });
    expect(t.saver.status(FRAME)).toEqual({ kind: "error", message: "instances[0].mask is 2x2 (HxW) but the frame is 4x4." });
    t.scheduler.advance(60_000);
    expect(t.transport.requests).toHaveLength(1);
    t.draw("22");
    t.scheduler.advance(1500);
    expect(t.transport.requests).toHaveLength(2);
  });
});
