// The sign-in and create-account forms, shared by the storefront and the dashboard. Their
// accessible names ("Email", "Password", "Name", "Sign in", "Create account") are part of the
// protocol's contract for the pages.
import { useState } from 'preact/hooks';
import type { OpResults } from '@cartwire/client';
import { errorText } from './session.js';
import { ErrorNote } from './error-note.js';

export type AuthMode = 'signin' | 'register';
type AuthResult = OpResults['auth.login'];

interface Props {
  mode: AuthMode;
  /** Runs auth.login or auth.register; rejects with the server's error. */
  submit: (mode: AuthMode, fields: { email: string; password: string; name?: string }) => Promise<AuthResult>;
  done: (auth: AuthResult) => void;
  cancel?: () => void;
}

export function SignInForm({ mode, submit, done, cancel }: Props) {
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [name, setName] = useState('');
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);
  const label = mode === 'signin' ? 'Sign in' : 'Create account';

  const onSubmit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError('');
    try {
      done(await submit(mode, { email, password, ...(mode === 'register' && name ? { name } : {}) }));
    } catch (err) {
      setError(errorText(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <form class="auth-form" aria-label={label} onSubmit={(e) => void onSubmit(e)}>
      <h2>{label}</h2>
      <label>
        Email
        <input type="email" name="email" autocomplete="username" required value={email} onInput={(e) => setEmail(e.currentTarget.value)} />
      </label>
      <label>
        Password
        <input
          type="password"
          name="password"
          autocomplete={mode === 'signin' ? 'current-password' : 'new-password'}
          required
          minLength={mode === 'register' ? 8 : undefined}
          value={password}
          onInput={(e) => setPassword(e.currentTarget.value)}
        />
      </label>
      {mode === 'register' && (
        <label>
          Name
          <input type="text" name="name" autocomplete="name" placeholder="optional" value={name} onInput={(e) => setName(e.currentTarget.value)} />
        </label>
      )}
      <ErrorNote text={error} />
      <div class="row">
        <button type="submit" disabled={busy}>
          {label}
        </button>
        {cancel && (
          <button type="button" class="secondary" onClick={cancel}>
            Cancel
          </button>
        )}
      </div>
    </form>
  );
}
