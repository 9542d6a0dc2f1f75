/* replay: the rule author's tool.  Reads posts from a file (or stdin),
 * matches and scores them exactly as the daemon does, and prints one alert
 * JSON object per line on stdout; a summary goes to stderr.  No Redis. */
#ifndef MENTIOND_REPLAY_H
#define MENTIOND_REPLAY_H

/* config_path may be NULL when rules_glob is given; rules_glob NULL means
 * the configuration's rules.  Returns an exit code. */
/* framing NULL: sse for the sse format, else lines. */
int replay_run(const char *input, const char *format, const char *framing, const char *rules_glob,
               const char *config_path);

#endif
