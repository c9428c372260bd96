/* The store's tokens.json for the `crated token` commands (issue 26):
 * read, or read-modify-write with If-Match (If-None-Match: * when there
 * is none yet), a lost race read again and redone (at most 8 tries,
 * 10-200 ms apart, jittered). The edit itself is cache/tokens.h's, run
 * on a copy in a private temporary directory, so the file's format and
 * rules (labels, ids) stay in one place. Blocking: each call runs an
 * event loop of its own until its requests are answered; for commands,
 * never for the server. */
#ifndef SERVER_STORAGE_TOKENSTORE_H
#define SERVER_STORAGE_TOKENSTORE_H

struct objstore_config;

/* Edits DIR/tokens.json (absent: no tokens); 0, 1 when there is nothing
 * to write, or -1 with *cause (new): then nothing is written. Called
 * once per try. */
typedef int	(*tokenstore_edit_fn)(const char *dir, void *arg,
		    char **cause);

/* Runs edit on the store's tokens.json and writes the result back.
 * 0, or -1 with *cause (new, names the store, never a credential). */
int	tokenstore_update(const struct objstore_config *,
	    tokenstore_edit_fn edit, void *arg, char **cause);
/* Copies the store's tokens.json to a new private directory (*dir,
 * new; its tokens.json is absent when the store has none): read it with
 * cache/tokens.h, then tokenstore_done. 0, or -1 with *cause. */
int	tokenstore_fetch(const struct objstore_config *, char **dir,
	    char **cause);
/* Removes a directory tokenstore_fetch made, and frees dir. */
void	tokenstore_done(char *dir);

#endif
