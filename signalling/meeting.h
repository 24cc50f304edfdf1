/* A scheduled meeting: its stored record and settings (shared by the
 * store, the policy and the API). Times are Unix seconds. */
#ifndef KG_MEETING_H
#define KG_MEETING_H

#include <stdbool.h>
#include <stdint.h>

#define KG_MEETING_ID_LEN 11   /* random digits, first not 0 */
#define KG_HOST_KEY_LEN 26     /* [A-Za-z0-9]: ~154 bits */
#define KG_INVITE_LEN 26       /* [A-Za-z0-9]: ~154 bits */
#define KG_PIN_MIN 6
#define KG_PIN_MAX 12
#define KG_PIN_DEFAULT 8
#define KG_TITLE_MAX 200
#define KG_EARLY_JOIN_S 300    /* PIN released / joins open 5 min early */
/* A meeting starts at most this far ahead of its creation or update. */
#define KG_MAX_AHEAD_S (5LL * 366 * 86400)

enum kg_share_policy { KG_SHARE_HOST = 0, KG_SHARE_ALL = 1 };

typedef struct kg_meeting_settings {
    bool waiting_room;         /* default true */
    bool join_before_host;     /* default false */
    enum kg_share_policy screen_share; /* default host */
    bool chat;                 /* default true */
    bool allow_rename;         /* default false */
} kg_meeting_settings;

typedef struct kg_meeting {
    char id[KG_MEETING_ID_LEN + 1];
    char title[KG_TITLE_MAX + 1];
    int64_t start;    /* Unix seconds */
    int64_t duration; /* seconds, 60 .. 86400 */
    kg_meeting_settings settings;
    int64_t created;
} kg_meeting;

void kg_meeting_settings_default(kg_meeting_settings *s);

/* The join window [start - KG_EARLY_JOIN_S, start + duration]. */
static inline int64_t kg_meeting_opens(const kg_meeting *m)
{
    return m->start - KG_EARLY_JOIN_S;
}
static inline int64_t kg_meeting_ends(const kg_meeting *m)
{
    return m->start + m->duration;
}

#endif
