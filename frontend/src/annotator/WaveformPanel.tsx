/**
 * The clip's audio as a waveform (wavesurfer.js), synced to the frames: the current frame's window
 * [k/fps, (k+1)/fps) is highlighted, clicking the waveform goes to the frame of that time, and while
 * playing the frames follow the audio. The audio URL is protected: it is fetched with the session
 * cookie and handed to wavesurfer as a blob.
 */
import { useEffect, useRef, useState } from "react";
import WaveSurfer from "wavesurfer.js";
import { frameAtTime, frameDescription, frameWindow, frameWindowText } from "../model/frameTime";
import { fetchAudio } from "./api";

export interface WaveformControls {
  playPause: () => void;
}

interface Props {
  audioUrl: string | null;
  fps: number;
  numFrames: number;
  frameIndex: number;
  onSeekFrame: (index: number) => void;
  controls: React.RefObject<WaveformControls | null>;
}

export function WaveformPanel({ audioUrl, fps, numFrames, frameIndex, onSeekFrame, controls }: Props) {
  const container = useRef<HTMLDivElement>(null);
  const surfer = useRef<WaveSurfer | null>(null);
  const [duration, setDuration] = useState(0);
  const [playing, setPlaying] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const seek = useRef(onSeekFrame);
  seek.current = onSeekFrame;
  const timing = useRef({ fps, numFrames });
  timing.current = { fps, numFrames };

  useEffect(() => {
    if (!audioUrl || !container.current) return;
    setError(null);
    setDuration(0);
    const ws = WaveSurfer.create({
      container: container.current,
      height: 56,
      waveColor: "#8fa3bf",
      progressColor: "#3b5b8c",
      cursorColor: "#e11d48",
      cursorWidth: 2,
      normalize: true,
      interact: true,
      dragToSeek: false,
    });
    surfer.current = ws;
    const abort = new AbortController();
    const offs = [
      ws.on("ready", (d) => setDuration(d)),
      ws.on("play", () => setPlaying(true)),
      ws.on("pause", () => setPlaying(false)),
      ws.on("finish", () => setPlaying(false)),
      ws.on("interaction", (t) => seek.current(frameAtTime(t, timing.current.fps, timing.current.numFrames))),
      ws.on("timeupdate", (t) => {
        if (ws.isPlaying()) seek.current(frameAtTime(t, timing.current.fps, timing.current.numFrames));
      }),
      ws.on("error", (e) => setError(`The audio could not be played: ${e.message}`)),
    ];
    fetchAudio(audioUrl, abort.signal)
      .then((blob) => ws.loadBlob(blob))
      .catch((e: unknown) => {
        if (!abort.signal.aborted) setError(e instanceof Error ? e.message : String(e));
      });
    return () => {
      abort.abort();
      for (const off of offs) off();
      ws.destroy();
      surfer.current = null;
    };
  }, [audioUrl]);

  useEffect(() => {
    controls.current = {
      playPause: () => void surfer.current?.playPause().catch(() => undefined),
    };
    return () => {
      controls.current = null;
    };
  }, [controls]);

  // A frame chosen elsewhere moves the cursor to its window (unless playback is already in it).
  useEffect(() => {
    const ws = surfer.current;
    if (!ws || !duration || !(fps > 0)) return;
    const { start, end } = frameWindow(frameIndex, fps);
    const t = ws.getCurrentTime();
    if (t < start || t >= end) ws.setTime(Math.min(start, duration));
  }, [frameIndex, fps, duration]);

  if (!audioUrl) {
    return (
      <div className="ann-waveform ann-waveform-empty" data-testid="waveform">
        <span className="muted">This clip has no audio.</span>
      </div>
    );
  }
  const window = fps > 0 ? frameWindow(frameIndex, fps) : null;
  const left = window && duration ? Math.min(100, (100 * window.start) / duration) : 0;
  const width = window && duration ? Math.max(0, Math.min(100 - left, (100 * (window.end - window.start)) / duration)) : 0;
  return (
    <div className="ann-waveform" data-testid="waveform" data-duration={duration || undefined}>
      <button
        type="button"
        className="btn btn-small ann-play"
        data-testid="play-pause"
        aria-pressed={playing}
        disabled={!duration}
        onClick={() => controls.current?.playPause()}
        title="Play / pause (K)"
      >
        {playing ? "Pause" : "Play"}
      </button>
      <div className="ann-wave-area">
        <div ref={container} className="ann-wave" />
        {duration ? (
          <div
            className="ann-wave-window"
            data-testid="waveform-window"
            style={{ left: `${left}%`, width: `${width}%` }}
            title={window ? frameDescription(frameIndex, numFrames, fps) : undefined}
          />
        ) : null}
        {!duration && !error ? <span className="ann-wave-loading muted">Loading audio…</span> : null}
        {error ? (
          <span className="ann-error" role="alert">
            {error}
          </span>
        ) : null}
      </div>
      <span className="mono ann-wave-time">{window ? frameWindowText(frameIndex, fps) : ""}</span>
    </div>
  );
}
