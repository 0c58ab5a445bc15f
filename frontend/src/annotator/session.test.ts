import { describe, expect, it } from "vitest";
import { maskArea } from "../model/mask";
import { decodeRle, encodeRle } from "../model/rle";
import { settle } from "../model/testing/fakeScheduler";
import { disc, FakeServer, open } from "./testing/fakeServer";

describe("AnnotatorSession", () => {
  it("loads the clip, decodes saved masks and reports frame statuses", async () => {
    const server = new FakeServer();
    server.store(101, [{ label: "dog", mask: encodeRle(disc(5, 5, 3)) }], { status: "submitted" });
    const { snap } = await open(server, 1);
    expect(snap().phase).toBe("ready");
    expect(snap().frameIndex).toBe(1);
    expect(snap().statuses).toEqual(["none", "submitted", "none"]);
    expect(snap().doc!.instances).toHaveLength(1);
    expect(snap().canEdit).toBe(true);
    expect(snap().colours.get("dog")).toBe("#e6194b");
    expect(snap().proposalId).toBe(77);
  });

  it("a stroke becomes a new instance with the picked label, is autosaved, and undo/redo is per frame", async () => {
    const { session, server, scheduler, snap } = await open();
    session.setLabelDraft("guitar");
    session.applyEdit([{ instanceId: null, mask: disc(4, 4, 2) }]);
    expect(snap().doc!.instances.map((i) => i.label)).toEqual(["guitar"]);
    expect(snap().selectedIds).toHaveLength(1);
    expect(snap().save.kind).toBe("dirty");
    scheduler.advance(1500);
    await settle();
    expect(server.puts).toHaveLength(1);
    expect(server.puts[0]).toMatchObject({ frameId: 100, version: null });
    expect(decodeRle(server.puts[0].instances[0].mask).data).toEqual(disc(4, 4, 2).data);
    expect(snap().save.kind).toBe("saved");
    expect(snap().statuses[0]).toBe("draft");

    session.nextFrame();
    expect(snap().canUndo).toBe(false); // frame 1 has its own history
    session.previousFrame();
    session.undo();
    expect(snap().doc!.instances).toHaveLength(0);
    session.redo();
    expect(snap().doc!.instances).toHaveLength(1);
  });

  it("copies the selected masks to the next frame, which then saves on its own", async () => {
    const { session, server, scheduler, snap } = await open();
    session.applyEdit([{ instanceId: null, mask: disc(4, 4, 2) }]);
    session.copySelectedToNext();
    expect(snap().dirty).toEqual([true, true, false]);
    session.nextFrame();
    expect(snap().doc!.instances).toHaveLength(1);
    expect(snap().doc!.instances[0].label).toBe("dog");
    scheduler.advance(1500);
    await settle();
    expect(server.puts.map((p) => p.frameId).sort()).toEqual([100, 101]);
    session.undo();
    expect(snap().doc!.instances).toHaveLength(0);
  });

  it("a 409 opens the conflict, keeps our strokes, and reload keeps them one undo away and in the stash", async () => {
    const server = new FakeServer();
    server.store(100, [{ label: "dog", mask: encodeRle(disc(3, 3, 2)) }]);
    const { session, scheduler, snap } = await open(server);
    // Someone else saves version 2 meanwhile.
    server.store(100, [{ label: "cat", mask: encodeRle(disc(12, 8, 2)) }]);
    const ours = disc(8, 6, 4);
    session.applyEdit([{ instanceId: null, mask: ours }]);
    scheduler.advance(1500);
    await settle();
    expect(snap().conflict).toMatchObject({ frameId: 100, basedOn: 1, currentVersion: 2 });
    expect(snap().doc!.instances.map((i) => i.label)).toEqual(["dog", "dog"]); // untouched
    const diff = session.conflictDocs()!;
    expect(diff.theirs.instances.map((i) => i.label)).toEqual(["cat"]);

    session.resolveConflictReload();
    expect(snap().conflict).toBeNull();
    expect(snap().doc!.instances.map((i) => i.label)).toEqual(["cat"]);
    expect(snap().stashCount).toBe(1);
    expect(snap().save.kind).toBe("saved");
    session.undo();
    expect(snap().doc!.instances.map((i) => i.label)).toEqual(["dog", "dog"]);
    expect(maskArea(snap().doc!.instances[1].mask)).toBe(maskArea(ours));
  });

  it("overwrite saves ours on top of the current version", async () => {
    const server = new FakeServer();
    server.store(100, []);
    const { session, scheduler, snap } = await open(server);
    server.store(100, [{ label: "cat", mask: encodeRle(disc(12, 8, 2)) }]);
    session.applyEdit([{ instanceId: null, mask: disc(8, 6, 4) }]);
    scheduler.advance(1500);
    await settle();
    expect(snap().conflict).not.toBeNull();
    await session.resolveConflictOverwrite();
    expect(snap().conflict).toBeNull();
    expect(server.puts.at(-1)).toMatchObject({ version: 2 });
    expect(server.annotations.get(100)!.version).toBe(3);
    expect(server.annotations.get(100)!.instances.map((i) => i.label)).toEqual(["dog"]);
  });

  it("SAM answers become a new selected instance, then refine it", async () => {
    const { session, snap } = await open();
    await session.samPrompt({ points: [{ x: 10, y: 6, positive: true }], box: null, instanceId: null });
    expect(snap().doc!.instances).toHaveLength(1);
    const id = snap().doc!.instances[0].id;
    expect(snap().selectedIds).toEqual([id]);
    await session.samPrompt({ points: [{ x: 10, y: 6, positive: true }], box: null, instanceId: id });
    expect(snap().doc!.instances).toHaveLength(1);
  });

  it("accepting the proposal on the frame saves pending edits first and shows the server's result", async () => {
    const { session, server, snap } = await open();
    session.applyEdit([{ instanceId: null, mask: disc(12, 8, 2) }]);
    await session.acceptProposalFrame();
    expect(server.puts).toHaveLength(1); // our stroke first
    expect(snap().doc!.instances).toHaveLength(2);
    expect(snap().annotation!.version).toBe(2);
    expect(snap().save.kind).toBe("saved");
    session.undo(); // back to before the acceptance
    expect(snap().doc!.instances).toHaveLength(1);
  });

  it("reviewers see a read-only frame and can reject only with a comment", async () => {
    const server = new FakeServer();
    server.role = "reviewer";
    server.store(100, [{ label: "dog", mask: encodeRle(disc(3, 3, 2)) }], { status: "submitted" });
    const { session, snap } = await open(server);
    expect(snap().canEdit).toBe(false);
    expect(snap().canReview).toBe(true);
    session.applyEdit([{ instanceId: null, mask: disc(8, 6, 4) }]);
    expect(snap().doc!.instances).toHaveLength(1); // ignored
    expect(await session.review("reject", "   ")).toBe(false);
    expect(server.reviews).toHaveLength(0);
    expect(await session.review("reject", "The tail is missing")).toBe(true);
    expect(server.reviews[0]).toMatchObject({ verdict: "reject", comment: "The tail is missing", annotation_version: 1 });
    expect(snap().annotation!.status).toBe("rejected");
  });
});
