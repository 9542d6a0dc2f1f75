/* level: an alert's priority level, the one fact delivery (spool, Redis
 * keys) and matching (rules, scorer) share; below both, so delivery never
 * includes the rule engine.
 */
#ifndef MENTIOND_LEVEL_H
#define MENTIOND_LEVEL_H

enum level { LEVEL_CRITICAL = 0, LEVEL_HIGH, LEVEL_NORMAL, LEVEL_LOW, LEVEL_COUNT };
extern const char *const level_names[LEVEL_COUNT];
/* "critical".."low" -> LEVEL_*; -1 if unknown. */
int level_parse(const char *s);

#endif
