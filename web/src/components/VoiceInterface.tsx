import { useEffect, useRef, useState } from 'react';
import type { ModelClient } from '../lib/modelClient';
import { VoiceSession, type VoiceMode, type VoiceState } from '../lib/audio/voice';
import type { PlayerStats } from '../lib/audio/speech';

interface Props {
  client: ModelClient;
  /** Speech recognition (Parakeet) is served: POST /v1/audio/transcriptions. */
  transcription: boolean;
  /** Speech synthesis (Piper) is served: POST /v1/audio/speech. */
  speech: boolean;
  speakReplies: boolean;
  onSpeakReplies: (on: boolean) => void;
  voices: string[];
  voice: string;
  onVoice: (v: string) => void;
  player: PlayerStats;
  /** A finished utterance: sent as the user's message. */
  onTranscript: (text: string) => void;
  /** The transcript of the utterance so far ('' when there is none). */
  onPartial: (text: string) => void;
  /** The user started talking (or pressed to talk): stop speaking. */
  onSpeechStart: () => void;
  /** Called from the user's gestures, so the reply player may start audio. */
  onGesture: () => void;
  onStopSpeaking: () => void;
}

const stateText: Record<VoiceState, string> = {
  off: '',
  listening: 'Listening…',
  speech: 'Hearing you…',
  transcribing: 'Transcribing…',
};

export function VoiceInterface(props: Props) {
  const { client, transcription, speech } = props;
  const [open, setOpen] = useState(false);
  const [mode, setMode] = useState<VoiceMode | null>(null);
  const [state, setState] = useState<VoiceState>('off');
  const [error, setError] = useState('');
  const [holding, setHolding] = useState(false);
  const session = useRef<VoiceSession | null>(null);
  const cb = useRef(props);
  cb.current = props;

  useEffect(() => () => session.current?.stop(), []);
  useEffect(() => {
    if (!transcription) stop();
  }, [transcription]);

  async function start(m: VoiceMode) {
    stop();
    setError('');
    props.onGesture();
    const s = new VoiceSession(client, m, {
      state: setState,
      speechStart: () => cb.current.onSpeechStart(),
      partial: (t) => cb.current.onPartial(t),
      final: (t) => {
        cb.current.onPartial('');
        cb.current.onTranscript(t);
      },
      error: setError,
    });
    session.current = s;
    setMode(m);
    try {
      await s.start();
    } catch (e) {
      setError(`microphone: ${(e as Error).message}`);
      if (session.current === s) stop();
    }
  }

  function stop() {
    session.current?.stop();
    session.current = null;
    setMode(null);
    setState('off');
    setHolding(false);
    cb.current.onPartial('');
  }

  function press() {
    if (!session.current || session.current.mode !== 'push-to-talk') return;
    props.onGesture();
    setHolding(true);
    session.current.pressTalk();
  }

  function release() {
    if (!holding) return;
    setHolding(false);
    session.current?.releaseTalk();
  }

  const active = mode !== null;
  return (
    <div className="tool">
      <button
        type="button"
        aria-expanded={open}
        onClick={() => setOpen(!open)}
        data-testid="voice-button"
        className={active ? 'live' : undefined}
      >
        {active ? '● Voice' : 'Voice'}
      </button>
      {active && mode === 'push-to-talk' ? (
        <button
          type="button"
          className={holding ? 'talk holding' : 'talk'}
          data-testid="talk"
          aria-pressed={holding}
          onPointerDown={(e) => (e.preventDefault(), press())}
          onPointerUp={release}
          onPointerLeave={release}
          onKeyDown={(e) => {
            if ((e.key === ' ' || e.key === 'Enter') && !e.repeat) (e.preventDefault(), press());
          }}
          onKeyUp={(e) => {
            if (e.key === ' ' || e.key === 'Enter') (e.preventDefault(), release());
          }}
        >
          {holding ? 'Release to send' : 'Hold to talk'}
        </button>
      ) : null}
      {active ? (
        <span className="voice-state" data-testid="voice-state" data-state={state}>
          {stateText[state]}
        </span>
      ) : null}
      {props.player.speaking ? (
        <button type="button" onClick={props.onStopSpeaking} data-testid="stop-speaking">
          Stop speaking
        </button>
      ) : null}
      {open ? (
        <div className="popover" role="dialog" aria-label="Voice">
          <h3>Voice</h3>
          {!transcription ? (
            <p className="note" data-testid="voice-inactive">
              Talking to the assistant needs a speech recognition model: start the server with --asr-model DIR
              (a Parakeet TDT checkpoint).
            </p>
          ) : (
            <div className="actions">
              <button
                type="button"
                aria-pressed={mode === 'push-to-talk'}
                onClick={() => (mode === 'push-to-talk' ? stop() : void start('push-to-talk'))}
                data-testid="push-to-talk"
              >
                Push to talk
              </button>
              <button
                type="button"
                aria-pressed={mode === 'hands-free'}
                onClick={() => (mode === 'hands-free' ? stop() : void start('hands-free'))}
                data-testid="hands-free"
              >
                Hands-free
              </button>
            </div>
          )}
          <p className="note">
            {mode === 'hands-free'
              ? 'Listening: speak, and your words are sent when you pause.'
              : mode === 'push-to-talk'
                ? 'Hold "Hold to talk" (or Space on it) while you speak.'
                : ''}
          </p>
          {!speech ? (
            <p className="note" data-testid="speech-inactive">
              Spoken replies need a voice: start the server with --voice VOICE.onnx (a Piper voice).
            </p>
          ) : (
            <div className="actions">
              <label className="toggle">
                <input
                  type="checkbox"
                  checked={props.speakReplies}
                  data-testid="speak-replies"
                  onChange={(e) => (props.onGesture(), props.onSpeakReplies(e.target.checked))}
                />
                Speak replies
              </label>
              {props.voices.length > 1 ? (
                <select value={props.voice} aria-label="Voice" onChange={(e) => props.onVoice(e.target.value)}>
                  {props.voices.map((v) => (
                    <option key={v} value={v}>{v}</option>
                  ))}
                </select>
              ) : null}
            </div>
          )}
          {error ? <p className="error" data-testid="voice-error">{error}</p> : null}
          {props.player.error ? <p className="error">Speech: {props.player.error}</p> : null}
        </div>
      ) : null}
      {!open && error ? <span className="error small">{error}</span> : null}
      <span
        hidden
        data-testid="speech-player"
        data-speaking={props.player.speaking}
        data-sentences={props.player.sentences}
        data-scheduled={props.player.scheduled.toFixed(3)}
        data-played={props.player.played.toFixed(3)}
        data-context={props.player.context}
        data-clock={props.player.clock.toFixed(3)}
        data-error={props.player.error}
      />
    </div>
  );
}
