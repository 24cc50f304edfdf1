#include "signalling/meeting.h"

void kg_meeting_settings_default(kg_meeting_settings *s)
{
    /* The safe defaults: nobody gets in before the host lets them, and
     * only the host shares a screen. */
    *s = (kg_meeting_settings){
        .waiting_room = true,
        .join_before_host = false,
        .screen_share = KG_SHARE_HOST,
        .chat = true,
        .allow_rename = false,
    };
}
