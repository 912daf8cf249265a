/**
 * DEV ONLY. The token secret of the local stack (`npm start`), its `GET /dev/token`, and
 * `npm run token`, unless `PUSH_TOKEN_SECRET` says otherwise. It is public, so a token signed with
 * it proves nothing: never configure it anywhere but on a developer's machine. A deployed stack's
 * authorizer reads its key from Secrets Manager; sign for it with {@link secretsManagerSecret}.
 */
export const DEV_TOKEN_SECRET = 'dev-only-local-push-secret-never-use-in-aws';
