/* kaigi browser client: plain JS, no build step, no external resources.
 * Protocol: signalling/PROTOCOL.md. DOM contract: signalling/www/DOM.md.
 * Media is encrypted client-to-server only (kaigi decrypts and re-encrypts
 * every packet); the page says so from getStats(), never from a guess. */
'use strict';

(function () {
  const $ = (sel) => document.querySelector(sel);

  const SCREENS = {
    landing: '#landing', waiting: '#waiting', meeting: '#meeting',
    removed: '#removed', denied: '#denied', ended: '#ended',
    error: '#error-screen',
  };

  const ERROR_TEXT = {
    wrong_credentials: 'That meeting ID and PIN (or link) are not valid. Check them and try again.',
    locked: 'The host has locked this meeting. Nobody new can join.',
    ended: 'This meeting has ended.',
    room_full: 'The meeting is full.',
    share_denied: 'Only the host may share a screen in this meeting.',
    chat_off: 'The host turned chat off.',
    not_host: 'Only the host can do that.',
    muted_by_host: 'The host muted you; wait for the host to ask you to unmute.',
    rename_off: 'The host does not allow renaming.',
    internal: 'The server failed. Try again in a moment.',
  };

  // ---- state -------------------------------------------------------------

  const K = {
    participant: null, // this client's ID
    host: false, // whether this client is the host
    hostId: null,
    state: 'landing',
    node: null,
    pcs: { publish: null, subscribe: null },
    stats: stats,
    speaker: null, // the active speaker's ID (the `speaker` message)
  };
  window.kaigi = K;

  let ws = null;
  let cred = null; // {meeting, pin} | {invite} | {meeting, host_key}
  let closing = false; // we expect the socket to close
  let localStream = null;
  let screenTrack = null;
  let screenTx = null;
  let cameraTx = null; // the camera's transceiver (camera off sends nothing)
  let settings = { locked: false, screen_share: 'host', chat: true, allow_rename: false };
  const people = new Map(); // id -> {id, name}
  let attendees = null; // from the host's `attendees`
  let waitingList = [];
  const mutedIds = new Set(); // muted by this host since the last attendees
  const midOwner = new Map(); // subscribe mid -> participant ID (active sections)
  let pubBusy = false; // a publish offer awaits its answer
  let pubAgain = false; // renegotiate once the answer is in
  let subChain = Promise.resolve();
  let statsTimer = null;
  let mutedByHost = false; // muted by the host, no unmute request since
  let serverMuted = false; // kaigi drops our audio until we send unmute

  // ---- small helpers -----------------------------------------------------

  function show(screen) {
    K.state = screen;
    document.body.dataset.screen = screen;
    for (const [name, sel] of Object.entries(SCREENS)) {
      $(sel).hidden = name !== screen;
    }
  }

  function send(msg) {
    if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(msg));
  }

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function setStatus(text, isError) {
    const s = $('#status');
    s.textContent = text || '';
    s.hidden = !text;
    s.classList.toggle('is-error', !!isError);
  }

  function showLandingError(code, text) {
    const e = $('#error');
    e.dataset.code = code || '';
    e.textContent = text;
    e.hidden = !text;
  }

  function notice(text) {
    const li = el('li', null, text);
    const t = el('time', null, new Date().toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' }));
    li.prepend(t, ' ');
    const list = $('#notices');
    list.prepend(li);
    while (list.children.length > 50) list.lastChild.remove();
  }

  function nameOf(id) {
    if (id === K.participant) return 'You';
    const p = people.get(id);
    return p ? p.name : 'someone';
  }

  function errorText(msg) {
    if (msg.code === 'not_open') {
      const when = msg.opens_at ? new Date(msg.opens_at) : null;
      return when && !isNaN(when)
        ? 'This meeting is not open yet. It opens at ' +
          when.toLocaleString([], { dateStyle: 'medium', timeStyle: 'short' }) + ' (your local time).'
        : 'This meeting is not open yet.';
    }
    if (msg.code === 'locked_out') {
      const s = Number(msg.retry_after) || 0;
      const m = Math.ceil(s / 60);
      return 'Too many wrong attempts. Try again in ' +
        (s >= 120 ? m + ' minutes' : s + ' seconds') + '.';
    }
    return ERROR_TEXT[msg.code] || msg.message || msg.code || 'Something went wrong.';
  }

  // ---- landing -----------------------------------------------------------

  function readUrl() {
    const q = new URLSearchParams(location.search);
    const meeting = q.get('meeting');
    const hostKey = q.get('host_key');
    const invite = q.get('invite');
    if (invite) cred = { invite: invite };
    else if (meeting && hostKey) cred = { meeting: meeting, host_key: hostKey };
    else if (meeting) $('#meeting-id').value = meeting;
    if (invite || hostKey) {
      // The credential leaves the address bar (and history) at once.
      history.replaceState(null, '', location.pathname);
      $('#cred-fields').hidden = true;
      const note = $('#link-note');
      note.hidden = false;
      note.textContent = hostKey
        ? 'Host link for meeting ' + meeting + '. Enter your name to start.'
        : 'Invitation link. Enter your name to join.';
    } else if (meeting) {
      history.replaceState(null, '', location.pathname);
    }
    try {
      const saved = localStorage.getItem('kaigi.name');
      if (saved) $('#name').value = saved;
    } catch (e) { /* storage off */ }
    (cred ? $('#name') : meeting ? $('#pin') : $('#meeting-id')).focus();
  }

  function onJoinSubmit(ev) {
    ev.preventDefault();
    const name = $('#name').value.trim();
    let c = cred;
    if (!c) {
      const meeting = $('#meeting-id').value.replace(/[\s-]/g, '');
      const pin = $('#pin').value.trim();
      if (!meeting || !pin) {
        showLandingError('missing', 'Enter the meeting ID and the PIN.');
        return;
      }
      c = { meeting: meeting, pin: pin };
    }
    if (!name) {
      showLandingError('missing', 'Enter your name.');
      $('#name').focus();
      return;
    }
    try { localStorage.setItem('kaigi.name', name); } catch (e) { /* off */ }
    showLandingError('', '');
    $('#join-btn').disabled = true;
    $('#join-btn').textContent = 'Joining…';
    connect(Object.assign({ type: 'join', name: name }, c));
  }

  function resetJoinButton() {
    $('#join-btn').disabled = false;
    $('#join-btn').textContent = 'Join';
  }

  // ---- socket ------------------------------------------------------------

  function connect(joinMsg) {
    closing = false;
    ws = new WebSocket((location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/ws');
    ws.onopen = () => send(joinMsg);
    ws.onmessage = (ev) => {
      let msg;
      try { msg = JSON.parse(ev.data); } catch (e) { return; }
      try {
        onMessage(msg);
      } catch (e) {
        console.error(e);
        setStatus('Client error: ' + e.message, true);
      }
    };
    ws.onclose = () => {
      ws = null;
      if (closing) return;
      if (K.state === 'landing') {
        resetJoinButton();
        if ($('#error').hidden) showLandingError('closed', 'Could not reach the kaigi server.');
      } else if (K.state === 'meeting' || K.state === 'waiting') {
        teardown();
        $('#error-text').textContent = 'The connection to the kaigi server was lost.';
        show('error');
      }
    };
  }

  function onMessage(msg) {
    switch (msg.type) {
      case 'waiting': return onWaiting(msg);
      case 'joined': return onJoined(msg);
      case 'publish_answer': return onPublishAnswer(msg);
      case 'subscribe': subChain = subChain.then(() => onSubscribe(msg)); return;
      case 'participant_joined': return onParticipantJoined(msg.participant);
      case 'participant_left': return onParticipantLeft(msg.participant);
      case 'error': return onError(msg);
      case 'host': return onHost(msg.participant);
      case 'settings': return onSettings(msg);
      case 'waiting_list': waitingList = msg.waiting || []; return renderWaitingList();
      case 'attendees':
        attendees = msg.attendees || [];
        mutedIds.clear();
        return renderParticipants();
      case 'join_notice': return notice((msg.participant && msg.participant.name) + ' joined');
      case 'leave_notice': return notice((msg.participant && msg.participant.name) + ' left');
      case 'lock_attempt': return notice(msg.name + ' tried to join the locked meeting');
      case 'under_attack': notice('Warning: ' + msg.message); return setStatus(msg.message, true);
      case 'muted': return onMutedByHost();
      case 'unmute_request': return onUnmuteRequest();
      case 'chat': return onChat(msg);
      case 'recording': return onRecording(msg);
      case 'renamed': return onRenamed(msg.participant, msg.name);
      case 'removed': return finish('removed');
      case 'denied': return finish('denied');
      case 'ended': return finish('ended');
      case 'speaker': return onSpeaker(msg.id);
      default: return undefined;
    }
  }

  function onError(msg) {
    const text = errorText(msg);
    if (K.state === 'landing' || K.state === 'waiting') {
      if (K.state === 'waiting') show('landing');
      closing = true;
      if (msg.code === 'wrong_credentials' && cred && cred.invite) {
        showLandingError(msg.code, 'This invitation link is not valid or was already used. ' +
          'Ask for a new one, or join with the meeting ID and PIN.');
      } else if (msg.code === 'wrong_credentials' && cred && cred.host_key) {
        showLandingError(msg.code, 'This host link is not valid.');
      } else {
        showLandingError(msg.code, text);
      }
      resetJoinButton();
      if (msg.code === 'wrong_credentials' && cred && !cred.pin) {
        // A spent or wrong link: offer the ID + PIN form instead.
        cred = null;
        $('#cred-fields').hidden = false;
        $('#link-note').hidden = true;
      }
      return;
    }
    setStatus(text, true);
    if (msg.code === 'share_denied') stopShare();
    if (msg.code === 'muted_by_host') {
      mutedByHost = true;
      serverMuted = true;
      const a = localStream && localStream.getAudioTracks()[0];
      if (a) a.enabled = false;
      renderMute();
    }
    if (msg.code === 'room_full' || msg.code === 'internal') {
      teardown();
      $('#error-text').textContent = text;
      show('error');
    }
  }

  function onWaiting(msg) {
    show('waiting');
    const m = msg.meeting || {};
    $('#waiting-title').textContent = m.title || '';
    $('#waiting-reason').textContent = msg.reason === 'no_host'
      ? 'The meeting starts when the host arrives.'
      : 'You are in the waiting room. The host will let you in.';
  }

  // ---- joined ------------------------------------------------------------

  function onJoined(msg) {
    K.participant = msg.participant;
    K.host = !!msg.host;
    K.hostId = msg.host_id || null;
    K.node = msg.node || '';
    if (msg.settings) Object.assign(settings, msg.settings);
    $('#node').textContent = K.node;
    $('#meeting-title').textContent = msg.title || 'Meeting ' + (msg.room || '');
    document.title = (msg.title || 'Meeting') + ' · kaigi';
    $('#self-name').textContent = ($('#name').value.trim() || 'You') + ' (you)';
    for (const p of msg.participants || []) onParticipantJoined(p, true);
    show('meeting');
    applyRole();
    applySettings();
    startPublish().catch((e) => setStatus('Could not start sending: ' + e.message, true));
    statsTimer = setInterval(updateEncryption, 2000);
    updateEncryption();
  }

  function onHost(id) {
    K.hostId = id;
    const was = K.host;
    K.host = id === K.participant;
    if (K.host) {
      if (!was) notice('You are now the host');
    } else if (id) {
      notice(nameOf(id) + ' is now the host');
    }
    applyRole();
    applySettings();
  }

  function applyRole() {
    $('#host-panel').hidden = !K.host;
    for (const t of document.querySelectorAll('.tile[data-participant]')) {
      t.classList.toggle('is-host', t.dataset.participant === K.hostId);
    }
    renderParticipants();
    renderWaitingList();
  }

  function onSettings(msg) {
    const wasLocked = settings.locked;
    for (const k of ['locked', 'screen_share', 'chat', 'allow_rename']) {
      if (k in msg) settings[k] = msg[k];
    }
    if (settings.locked !== wasLocked) notice(settings.locked ? 'Meeting locked' : 'Meeting unlocked');
    applySettings();
  }

  function applySettings() {
    $('#lock-toggle').checked = !!settings.locked;
    $('#chat-toggle').checked = !!settings.chat;
    $('#rename-toggle').checked = !!settings.allow_rename;
    $('#share-policy').value = settings.screen_share === 'all' ? 'all' : 'host';
    const mayShare = settings.screen_share === 'all' || K.host;
    const share = $('#share-btn');
    share.disabled = !mayShare || !navigator.mediaDevices || !navigator.mediaDevices.getDisplayMedia;
    share.title = mayShare ? '' : 'Only the host may share a screen here';
    if (!mayShare && screenTrack) stopShare();
    $('#chat').hidden = !settings.chat;
    $('#chat-input').disabled = !settings.chat;
    $('#chat-send').disabled = !settings.chat;
    // kaigi refuses the rename anyway (rename_off); the page says so first.
    const mayRename = settings.allow_rename || K.host;
    $('#rename-input').disabled = !mayRename;
    $('#rename-btn').disabled = !mayRename;
    $('#rename-btn').title = mayRename ? '' : ERROR_TEXT.rename_off;
  }

  /* kaigi's `renamed` (everyone, the renamed one included). */
  function onRenamed(id, name) {
    if (typeof id !== 'string' || typeof name !== 'string') return;
    if (id === K.participant) {
      $('#self-name').textContent = name + ' (you)';
      notice('You are now called ' + name);
      return;
    }
    const p = people.get(id);
    if (!p) return;
    const old = p.name;
    p.name = name;
    const tile = document.querySelector('#tiles .tile[data-participant="' + CSS.escape(id) + '"]');
    if (tile) {
      tile.querySelector('.name').textContent = name;
      tile.querySelector('.initials').textContent = name.slice(0, 1).toUpperCase();
    }
    const st = document.querySelector('.screen-tile[data-screen-of="' + CSS.escape(id) + '"] .name');
    if (st) st.textContent = name + '’s screen';
    if (recorders.has(id)) recorders.set(id, name);
    notice(old + ' is now called ' + name);
    renderParticipants();
  }

  function onRenameSubmit(ev) {
    ev.preventDefault();
    const name = $('#rename-input').value.trim();
    if (!name) return;
    send({ type: 'rename', name: name });
    $('#rename-input').value = '';
  }

  // ---- participants and tiles --------------------------------------------

  function onParticipantJoined(p, quiet) {
    if (!p || !p.id || p.id === K.participant) return;
    people.set(p.id, { id: p.id, name: p.name });
    const tile = tileFor(p.id);
    tile.querySelector('.name').textContent = p.name;
    if (!quiet && !K.host) notice(p.name + ' joined');
    renderParticipants();
  }

  function onParticipantLeft(id) {
    const p = people.get(id);
    people.delete(id);
    for (const t of document.querySelectorAll('[data-participant="' + CSS.escape(id) + '"], [data-screen-of="' + CSS.escape(id) + '"]')) {
      if (t.classList.contains('tile')) {
        const v = t.querySelector('video');
        if (v) v.srcObject = null;
        t.remove();
      }
    }
    if (p && !K.host) notice(p.name + ' left');
    renderParticipants();
    layoutTiles();
  }

  function tileFor(id) {
    let tile = document.querySelector('#tiles .tile[data-participant="' + CSS.escape(id) + '"]');
    if (tile) return tile;
    tile = el('div', 'tile no-video');
    tile.dataset.participant = id;
    const v = el('video');
    v.autoplay = true;
    v.playsInline = true;
    v.setAttribute('playsinline', '');
    const initials = el('span', 'initials');
    const p = people.get(id);
    initials.textContent = p ? p.name.slice(0, 1).toUpperCase() : '?';
    tile.append(v, initials, el('span', 'name', p ? p.name : '…'));
    tile.classList.toggle('speaking', id === K.speaker);
    $('#tiles').append(tile);
    layoutTiles();
    return tile;
  }

  /* The active speaker's tile (ours is .tile.self) gets class speaking. */
  function onSpeaker(id) {
    if (typeof id !== 'string') return;
    K.speaker = id;
    for (const t of document.querySelectorAll('#tiles .tile')) {
      const who = t.classList.contains('self') ? K.participant : t.dataset.participant;
      t.classList.toggle('speaking', !!who && who === id);
    }
  }

  function screenTileFor(id) {
    let tile = document.querySelector('#tiles .tile.screen-tile[data-screen-of="' + CSS.escape(id) + '"]');
    if (tile) return tile;
    tile = el('div', 'tile screen-tile');
    tile.dataset.screenOf = id;
    const v = el('video');
    v.autoplay = true;
    v.playsInline = true;
    v.muted = true;
    v.setAttribute('playsinline', '');
    tile.append(v, el('span', 'name', nameOf(id) + '’s screen'));
    $('#tiles').prepend(tile);
    layoutTiles();
    return tile;
  }

  function layoutTiles() {
    const n = $('#tiles').children.length;
    $('#tiles').dataset.count = String(Math.min(n, 9));
    updateVideoLayers();
  }

  // Simulcast: ask kaigi (video_layer, PROTOCOL.md) for no more of a
  // camera than its tile shows: under 240 device pixels wide the lowest
  // layer, under 480 the middle one. Only for tiles that have their video
  // (kaigi keeps the cap per subscribed track), each change once.
  const sentLayer = new Map();
  function updateVideoLayers() {
    if (K.state !== 'meeting') return;
    for (const tile of document.querySelectorAll('#tiles .tile[data-participant]')) {
      const v = tile.querySelector('video');
      const stream = v && v.srcObject;
      if (!stream || stream.getVideoTracks().length === 0) continue;
      const id = tile.dataset.participant;
      const px = tile.clientWidth * (window.devicePixelRatio || 1);
      const max = px < 240 ? 0 : px < 480 ? 1 : 2;
      if (sentLayer.get(id) === max) continue;
      sentLayer.set(id, max);
      send({ type: 'video_layer', participant: id, max: max });
    }
  }
  window.addEventListener('resize', () => updateVideoLayers());

  function playVideo(v) {
    const p = v.play();
    if (p && p.catch) {
      p.catch(() => {
        // Autoplay with sound refused: play muted and ask for a click.
        if (!v.muted) {
          v.muted = true;
          v.play().catch(() => {});
          setStatus('Click anywhere to turn on the sound.', false);
          document.addEventListener('click', () => {
            for (const x of document.querySelectorAll('.tile[data-participant] video')) {
              x.muted = false;
              x.play().catch(() => {});
            }
            setStatus('');
          }, { once: true });
        }
      });
    }
  }

  function setTileTracks(video, tracks) {
    const cur = video.srcObject ? video.srcObject.getTracks() : [];
    const same = cur.length === tracks.length && tracks.every((t) => cur.includes(t));
    if (same) return;
    video.srcObject = tracks.length ? new MediaStream(tracks) : null;
    if (tracks.length) playVideo(video);
  }

  /* Puts every received track into its participant's tile, from the
   * subscribe transceivers and the mid -> participant map of the last
   * offer (the offer's msid stream ID is the publisher's ID). */
  function placeTracks() {
    const sub = K.pcs.subscribe;
    if (!sub) return;
    const byPid = new Map();
    for (const t of sub.getTransceivers()) {
      const pid = t.mid !== null ? midOwner.get(t.mid) : undefined;
      if (!pid || !t.receiver.track) continue;
      if (t.currentDirection && t.currentDirection !== 'recvonly' && t.currentDirection !== 'sendrecv') continue;
      if (!byPid.has(pid)) byPid.set(pid, []);
      byPid.get(pid).push(t.receiver.track);
    }
    for (const [pid, tracks] of byPid) {
      const audio = tracks.filter((t) => t.kind === 'audio');
      const video = tracks.filter((t) => t.kind === 'video');
      // The first video of a participant is the camera, a second the screen.
      const tile = tileFor(pid);
      setTileTracks(tile.querySelector('video'), audio.concat(video.slice(0, 1)));
      tile.classList.toggle('no-video', video.length === 0);
      if (video.length > 1) {
        setTileTracks(screenTileFor(pid).querySelector('video'), video.slice(1, 2));
      } else {
        const st = document.querySelector('.screen-tile[data-screen-of="' + CSS.escape(pid) + '"]');
        if (st) st.remove();
      }
    }
    for (const tile of document.querySelectorAll('#tiles .tile[data-participant]')) {
      if (!byPid.has(tile.dataset.participant)) {
        setTileTracks(tile.querySelector('video'), []);
        tile.classList.add('no-video');
      }
    }
    for (const st of document.querySelectorAll('#tiles .screen-tile')) {
      if (!byPid.has(st.dataset.screenOf)) st.remove();
    }
    recordAudioTracks();
    layoutTiles();
  }

  // ---- publish -----------------------------------------------------------

  async function startPublish() {
    try {
      localStream = await navigator.mediaDevices.getUserMedia({
        audio: true, video: { width: 640, height: 360 },
      });
    } catch (e) {
      setStatus('No camera or microphone: ' + e.message + '. You can still watch and listen.', true);
      localStream = new MediaStream();
    }
    if (K.state !== 'meeting') { stopLocal(); return; }
    $('#self-video').srcObject = localStream;
    $('#self-video').play().catch(() => {});
    $('#tiles .tile.self').classList.toggle('no-video', localStream.getVideoTracks().length === 0);
    const pc = new RTCPeerConnection({ bundlePolicy: 'max-bundle', rtcpMuxPolicy: 'require' });
    K.pcs.publish = pc;
    pc.onconnectionstatechange = () => {
      if (pc.connectionState === 'failed') setStatus('Media connection to the server failed.', true);
    };
    const a = localStream.getAudioTracks()[0];
    const v = localStream.getVideoTracks()[0];
    pc.addTransceiver(a || 'audio', { direction: 'sendonly', streams: [localStream] });
    // Simulcast: encodings lowest first (kaigi takes the a=simulcast order
    // as that) so that kaigi can give each receiver the one its bandwidth
    // allows; kaigi answers with the rids it accepts. Chromium encodes at
    // most two layers of a 640x360 camera, three from 960 wide up.
    const camera = { direction: 'sendonly', streams: [localStream] };
    if (v) {
      const width = (v.getSettings && v.getSettings().width) || 0;
      camera.sendEncodings = [
        { rid: 'h', scaleResolutionDownBy: 2, maxBitrate: 500000 },
        { rid: 'f', maxBitrate: 1500000 },
      ];
      if (width >= 960) {
        camera.sendEncodings.unshift({ rid: 'q', scaleResolutionDownBy: 4, maxBitrate: 150000 });
      }
    }
    cameraTx = pc.addTransceiver(v || 'video', camera);
    $('#mute-btn').disabled = !a;
    $('#camera-btn').disabled = !v;
    await publishOffer();
  }

  async function publishOffer() {
    const pc = K.pcs.publish;
    if (!pc) return;
    if (pubBusy) { pubAgain = true; return; }
    pubBusy = true;
    pubAgain = false;
    try {
      const offer = await pc.createOffer();
      await pc.setLocalDescription(offer);
      // kaigi is ICE-lite and learns our address from the checks, so the
      // offer goes now, without waiting for candidates.
      const sources = {};
      for (const t of pc.getTransceivers()) {
        if (t.mid === null) continue;
        if (t === screenTx) sources[t.mid] = 'screen';
        else sources[t.mid] = t.receiver.track.kind === 'audio' ? 'microphone' : 'camera';
      }
      send({ type: 'publish', sdp: pc.localDescription.sdp, sources: sources });
    } catch (e) {
      pubBusy = false;
      throw e;
    }
  }

  async function onPublishAnswer(msg) {
    const pc = K.pcs.publish;
    if (!pc) return;
    try {
      await pc.setRemoteDescription({ type: 'answer', sdp: msg.sdp });
    } catch (e) {
      console.error('publish answer refused', e, msg.sdp);
      setStatus('The browser refused the server\'s answer: ' + e.message, true);
    }
    pubBusy = false;
    if (pubAgain) publishOffer().catch((e) => setStatus('Renegotiation failed: ' + e.message, true));
  }

  // ---- subscribe ---------------------------------------------------------

  function parseOwners(sdp) {
    midOwner.clear();
    const sections = sdp.split(/\r?\nm=/).slice(1);
    for (const s of sections) {
      const mid = (s.match(/\r?\na=mid:(\S+)/) || [])[1];
      const msid = (s.match(/\r?\na=msid:(\S+)/) || [])[1];
      const inactive = /\r?\na=inactive/.test(s) || /^\S+ 0 /.test(s);
      if (mid !== undefined && msid && msid !== '-' && !inactive) midOwner.set(mid, msid);
    }
  }

  async function onSubscribe(msg) {
    if (K.state !== 'meeting') return;
    let pc = K.pcs.subscribe;
    if (!pc) {
      pc = new RTCPeerConnection({ bundlePolicy: 'max-bundle', rtcpMuxPolicy: 'require' });
      K.pcs.subscribe = pc;
      pc.ontrack = () => placeTracks();
      pc.onconnectionstatechange = () => {
        if (pc.connectionState === 'failed') setStatus('Media connection from the server failed.', true);
      };
    }
    try {
      parseOwners(msg.sdp);
      await pc.setRemoteDescription({ type: 'offer', sdp: msg.sdp });
      const answer = await pc.createAnswer();
      await pc.setLocalDescription(answer);
      if (K.pcs.subscribe !== pc) return;
      send({ type: 'subscribe_answer', version: msg.version, sdp: pc.localDescription.sdp });
      placeTracks();
    } catch (e) {
      console.error('subscribe offer refused', e, msg.sdp);
      setStatus('The browser refused the server\'s offer (version ' + msg.version + '): ' + e.message, true);
    }
  }

  // ---- encryption statement ----------------------------------------------

  async function transportStats(pc) {
    if (!pc) return null;
    const r = await pc.getStats();
    let tr = null;
    r.forEach((s) => {
      if (s.type === 'transport' && (s.srtpCipher || !tr)) tr = s;
    });
    return tr;
  }

  /* Chromium 156 and Firefox ESR 153 name the DTLS-SRTP profile as
   * IANA's registry does ("SRTP_AEAD_AES_256_GCM", in a "transport"
   * stats entry), older ones as RFC 7714's cipher ("AEAD_AES_256_GCM"):
   * one name for both. */
  function cipherName(c) {
    return c ? String(c).replace(/^SRTP_(AEAD_)/, '$1') : null;
  }

  async function stats() {
    const out = { srtpCipher: null, dtlsCipher: null, tlsVersion: null, inbound: [] };
    const tr = (await transportStats(K.pcs.publish)) || (await transportStats(K.pcs.subscribe));
    if (tr) {
      out.srtpProfile = tr.srtpCipher || null;
      out.srtpCipher = cipherName(tr.srtpCipher);
      out.dtlsCipher = tr.dtlsCipher || null;
      out.tlsVersion = tr.tlsVersion || null;
    }
    const sub = K.pcs.subscribe;
    if (sub) {
      const trackOwner = new Map();
      for (const t of sub.getTransceivers()) {
        if (t.mid !== null && midOwner.has(t.mid)) trackOwner.set(t.receiver.track.id, midOwner.get(t.mid));
      }
      const r = await sub.getStats();
      r.forEach((s) => {
        if (s.type !== 'inbound-rtp') return;
        const participant = (s.mid !== undefined && midOwner.get(String(s.mid))) ||
          trackOwner.get(s.trackIdentifier) || null;
        if (!participant) return;
        out.inbound.push({
          kind: s.kind,
          framesDecoded: s.framesDecoded || 0,
          packetsReceived: s.packetsReceived || 0,
          totalSamplesReceived: s.totalSamplesReceived || 0,
          bytesReceived: s.bytesReceived || 0,
          participant: participant,
          mid: s.mid,
          frameWidth: s.frameWidth || 0,
          frameHeight: s.frameHeight || 0,
        });
      });
    }
    out.outbound = [];
    const pub = K.pcs.publish;
    if (pub) {
      const r = await pub.getStats();
      r.forEach((s) => {
        if (s.type !== 'outbound-rtp') return;
        out.outbound.push({
          kind: s.kind,
          rid: s.rid || null,
          ssrc: s.ssrc,
          framesEncoded: s.framesEncoded || 0,
          frameWidth: s.frameWidth || 0,
          frameHeight: s.frameHeight || 0,
          active: s.active !== false,
        });
      });
    }
    return out;
  }

  async function updateEncryption() {
    if (K.state !== 'meeting') return;
    let tr = null;
    try {
      tr = (await transportStats(K.pcs.publish)) || (await transportStats(K.pcs.subscribe));
    } catch (e) { /* closed meanwhile */ }
    const e = $('#encryption');
    const cipher = tr && cipherName(tr.srtpCipher);
    e.dataset.cipher = cipher || '';
    if (!cipher) {
      e.textContent = 'connecting… (encryption not yet known)';
      e.className = 'enc pending';
    } else if (cipher === 'AEAD_AES_256_GCM') {
      e.textContent = 'client-to-server AES-256-GCM, not end-to-end';
      e.className = 'enc ok';
    } else {
      e.textContent = 'client-to-server ' + cipher + ', not end-to-end';
      e.className = 'enc weak';
    }
    e.title = cipher ? 'SRTP ' + cipher + (tr.dtlsCipher ? '; DTLS ' + tr.dtlsCipher : '') +
      (tr.tlsVersion ? ' (' + tr.tlsVersion + ')' : '') +
      '. The kaigi server decrypts and re-encrypts all media.' : '';
  }

  // ---- controls ----------------------------------------------------------

  function toggleMute() {
    const a = localStream && localStream.getAudioTracks()[0];
    if (!a) return;
    if (!a.enabled && serverMuted) {
      if (mutedByHost) {
        // kaigi drops our audio until the host asks us to unmute.
        setStatus(ERROR_TEXT.muted_by_host, false);
        return;
      }
      send({ type: 'unmute' });
      serverMuted = false;
      setStatus('');
    }
    a.enabled = !a.enabled;
    renderMute();
  }

  function renderMute() {
    const a = localStream && localStream.getAudioTracks()[0];
    const off = !a || !a.enabled;
    const b = $('#mute-btn');
    b.textContent = off ? 'Unmute' : 'Mute';
    b.setAttribute('aria-pressed', String(off));
    b.classList.toggle('off', off);
    $('#tiles .tile.self').classList.toggle('muted', off);
  }

  function toggleCamera() {
    const v = localStream && localStream.getVideoTracks()[0];
    if (!v) return;
    v.enabled = !v.enabled;
    // Off sends no frames at all (a disabled track would still send black
    // ones); on again, the encoder starts with a keyframe.
    if (cameraTx) cameraTx.sender.replaceTrack(v.enabled ? v : null).catch((e) => setStatus(e.message, true));
    const b = $('#camera-btn');
    b.textContent = v.enabled ? 'Camera off' : 'Camera on';
    b.setAttribute('aria-pressed', String(!v.enabled));
    b.classList.toggle('off', !v.enabled);
    $('#tiles .tile.self').classList.toggle('no-video', !v.enabled);
  }

  function onMutedByHost() {
    mutedByHost = true;
    serverMuted = true;
    const a = localStream && localStream.getAudioTracks()[0];
    if (a) a.enabled = false;
    renderMute();
    setStatus('The host muted you.', false);
  }

  function onUnmuteRequest() {
    mutedByHost = false;
    setStatus('The host asks you to unmute. Press Unmute when you are ready.', false);
  }

  async function toggleShare() {
    if (screenTrack) { stopShare(); return; }
    const pc = K.pcs.publish;
    if (!pc) return;
    let s;
    try {
      s = await navigator.mediaDevices.getDisplayMedia({ video: true, audio: false });
    } catch (e) {
      setStatus('Screen sharing not started: ' + e.message, true);
      return;
    }
    screenTrack = s.getVideoTracks()[0];
    screenTrack.onended = () => stopShare();
    if (screenTx) {
      await screenTx.sender.replaceTrack(screenTrack);
    } else {
      screenTx = pc.addTransceiver(screenTrack, { direction: 'sendonly', streams: [localStream] });
    }
    // Offered again even when the section exists: kaigi routes a screen
    // section only from an offer made while the policy allows it (an
    // earlier one may have been refused with share_denied).
    await publishOffer();
    $('#share-btn').textContent = 'Stop sharing';
    $('#share-btn').setAttribute('aria-pressed', 'true');
  }

  function stopShare() {
    if (!screenTrack) return;
    screenTrack.onended = null;
    screenTrack.stop();
    screenTrack = null;
    // The section stays (m-lines never move); it just sends nothing.
    if (screenTx) screenTx.sender.replaceTrack(null).catch(() => {});
    $('#share-btn').textContent = 'Share screen';
    $('#share-btn').setAttribute('aria-pressed', 'false');
  }

  function onChat(msg) {
    const li = el('li', msg.from === K.participant ? 'mine' : null);
    li.append(el('b', null, msg.from === K.participant ? 'You' : msg.name), ' ', el('span', null, msg.text));
    const log = $('#chat-log');
    log.append(li);
    while (log.children.length > 200) log.firstChild.remove();
    log.scrollTop = log.scrollHeight;
  }

  function onChatSubmit(ev) {
    ev.preventDefault();
    const text = $('#chat-input').value.trim();
    if (!text) return;
    send({ type: 'chat', text: text });
    $('#chat-input').value = '';
  }

  /* Local recording: the meeting's audio (every voice this page hears,
   * and our own microphone) mixed in an AudioContext and recorded by
   * MediaRecorder on this device; kaigi records nothing. Everyone is told
   * while it runs (the `recording` message). */
  let recorder = null;
  let recCtx = null;
  let recDest = null;
  const recSources = new Map(); // track ID -> MediaStreamAudioSourceNode

  function recordAudioTracks() {
    if (!recCtx) return;
    const tracks = localStream ? localStream.getAudioTracks() : [];
    for (const v of document.querySelectorAll('#tiles .tile[data-participant] video')) {
      if (v.srcObject) tracks.push(...v.srcObject.getAudioTracks());
    }
    for (const t of tracks) {
      if (recSources.has(t.id) || t.readyState !== 'live') continue;
      const src = recCtx.createMediaStreamSource(new MediaStream([t]));
      src.connect(recDest);
      recSources.set(t.id, src);
    }
  }

  function renderRecord(on) {
    const b = $('#record-btn');
    b.textContent = on ? 'Stop recording' : 'Record';
    b.setAttribute('aria-pressed', String(on));
    b.classList.toggle('off', on);
  }

  function toggleRecord() {
    if (recorder) { recorder.stop(); return; }
    if (typeof MediaRecorder === 'undefined' || !window.AudioContext) {
      setStatus('This browser cannot record.', true);
      return;
    }
    recCtx = new AudioContext();
    recDest = recCtx.createMediaStreamDestination();
    recordAudioTracks();
    const chunks = [];
    const rec = new MediaRecorder(recDest.stream);
    recorder = rec;
    rec.ondataavailable = (e) => { if (e.data.size) chunks.push(e.data); };
    rec.onstop = () => {
      if (recorder === rec) recorder = null;
      send({ type: 'recording', on: false });
      for (const src of recSources.values()) src.disconnect();
      recSources.clear();
      if (recCtx) recCtx.close().catch(() => {});
      recCtx = null;
      renderRecord(false);
      const p = $('#recording-link');
      p.textContent = 'Your recording (audio, on this device only): ';
      const a = el('a', null, 'save it');
      a.href = URL.createObjectURL(new Blob(chunks, { type: rec.mimeType || 'audio/webm' }));
      a.download = 'kaigi-' + new Date().toISOString().replace(/[:.]/g, '-') + '.webm';
      p.append(a);
      p.hidden = false;
    };
    rec.start(1000);
    send({ type: 'recording', on: true });
    renderRecord(true);
  }

  const recorders = new Map();
  function onRecording(msg) {
    if (msg.on) recorders.set(msg.participant, msg.name || nameOf(msg.participant));
    else recorders.delete(msg.participant);
    const b = $('#recording-banner');
    b.hidden = recorders.size === 0;
    b.textContent = recorders.size
      ? 'Recording: ' + Array.from(recorders.values()).join(', ') + ' ' +
        (recorders.size === 1 ? 'is' : 'are') + ' recording this meeting on their own device.'
      : '';
  }

  // ---- host panel --------------------------------------------------------

  function renderWaitingList() {
    const ul = $('#waiting-list');
    ul.textContent = '';
    if (!K.host) return;
    for (const w of waitingList) {
      const li = el('li');
      li.dataset.participant = w.id;
      if (w.generic) li.classList.add('generic');
      const n = el('span', 'who', w.name);
      if (w.generic) n.title = 'This nickname does not say who it is';
      const admit = el('button', 'admit', 'Admit');
      admit.type = 'button';
      admit.onclick = () => send({ type: 'admit', participant: w.id });
      const deny = el('button', 'deny', 'Deny');
      deny.type = 'button';
      deny.onclick = () => send({ type: 'deny', participant: w.id });
      li.append(n, admit, deny);
      ul.append(li);
    }
    if (!waitingList.length) ul.append(el('li', 'empty', 'Nobody is waiting.'));
  }

  function renderParticipants() {
    const ul = $('#participants');
    const sel = $('#handover-select');
    const leaveSel = $('#leave-new-host');
    ul.textContent = '';
    sel.textContent = '';
    leaveSel.textContent = '';
    const list = [];
    const seen = new Set();
    for (const a of attendees || []) {
      if (!a.id || a.id === K.participant) continue;
      seen.add(a.id);
      list.push({ id: a.id, name: a.name, generic: !!a.generic, muted: !!a.muted || mutedIds.has(a.id) });
    }
    for (const p of people.values()) {
      if (!seen.has(p.id)) list.push({ id: p.id, name: p.name, generic: false, muted: mutedIds.has(p.id) });
    }
    for (const p of list) {
      if (!people.has(p.id) && attendees) {
        // Someone the host's list still has but who has left: skip.
        continue;
      }
      for (const s of [sel, leaveSel]) {
        const o = el('option', null, p.name);
        o.value = p.id;
        s.append(o);
      }
      if (!K.host) continue;
      const li = el('li');
      li.dataset.participant = p.id;
      if (p.generic) li.classList.add('generic');
      const n = el('span', 'who', p.name);
      if (p.generic) n.title = 'This nickname does not say who it is';
      if (p.muted) n.append(el('small', 'tag', 'muted'));
      const mute = el('button', 'mute', 'Mute');
      mute.type = 'button';
      mute.onclick = () => {
        send({ type: 'mute', participant: p.id });
        mutedIds.add(p.id);
        renderParticipants();
      };
      const rm = el('button', 'remove', 'Remove');
      rm.type = 'button';
      rm.onclick = () => {
        send({ type: 'remove', participant: p.id });
      };
      li.append(n, mute);
      if (p.muted) {
        const ask = el('button', 'ask-unmute', 'Ask to unmute');
        ask.type = 'button';
        ask.onclick = () => {
          send({ type: 'ask_unmute', participant: p.id });
          mutedIds.delete(p.id);
          renderParticipants();
        };
        li.append(ask);
      }
      li.append(rm);
      ul.append(li);
    }
    if (K.host && !ul.children.length) ul.append(el('li', 'empty', 'Nobody else is here yet.'));
    const none = !sel.options.length;
    sel.disabled = none;
    $('#handover-btn').disabled = none;
  }

  function onLeave() {
    const others = Array.from(people.keys());
    if (K.host && others.length) {
      renderParticipants();
      $('#leave-dialog').hidden = false;
      $('#leave-new-host').focus();
      return;
    }
    leave(null);
  }

  function leave(newHost) {
    const msg = { type: 'leave' };
    if (newHost) msg.new_host = newHost;
    send(msg);
    finish('ended', 'You left the meeting.');
  }

  // ---- the end -----------------------------------------------------------

  function stopLocal() {
    if (recorder && recorder.state !== 'inactive') recorder.stop();
    if (localStream) for (const t of localStream.getTracks()) t.stop();
    if (screenTrack) screenTrack.stop();
    screenTrack = null;
  }

  function teardown() {
    if (statsTimer) clearInterval(statsTimer);
    statsTimer = null;
    for (const k of ['publish', 'subscribe']) {
      if (K.pcs[k]) K.pcs[k].close();
    }
    stopLocal();
    for (const v of document.querySelectorAll('video')) v.srcObject = null;
    $('#leave-dialog').hidden = true;
  }

  function finish(screen, text) {
    closing = true;
    teardown();
    if (ws) ws.close();
    if (screen === 'ended') $('#ended-text').textContent = text || 'The host ended the meeting.';
    show(screen);
  }

  // ---- wiring ------------------------------------------------------------

  function init() {
    $('#join-form').addEventListener('submit', onJoinSubmit);
    $('#waiting-leave-btn').addEventListener('click', () => {
      send({ type: 'leave' });
      closing = true;
      if (ws) ws.close();
      resetJoinButton();
      show('landing');
    });
    $('#mute-btn').addEventListener('click', toggleMute);
    $('#camera-btn').addEventListener('click', toggleCamera);
    $('#share-btn').addEventListener('click', () => toggleShare().catch((e) => setStatus(e.message, true)));
    $('#leave-btn').addEventListener('click', onLeave);
    $('#leave-confirm').addEventListener('click', () => leave($('#leave-new-host').value || null));
    $('#leave-cancel').addEventListener('click', () => { $('#leave-dialog').hidden = true; });
    $('#chat-form').addEventListener('submit', onChatSubmit);
    $('#rename-form').addEventListener('submit', onRenameSubmit);
    $('#record-btn').addEventListener('click', toggleRecord);
    $('#chat-toggle').addEventListener('change', (ev) => send({ type: 'set', chat: ev.target.checked }));
    $('#rename-toggle').addEventListener('change', (ev) => send({ type: 'set', allow_rename: ev.target.checked }));
    $('#share-policy').addEventListener('change', (ev) => send({ type: 'set', screen_share: ev.target.value }));
    $('#lock-toggle').addEventListener('change', (ev) => send({ type: ev.target.checked ? 'lock' : 'unlock' }));
    $('#handover-btn').addEventListener('click', () => {
      const id = $('#handover-select').value;
      if (id) send({ type: 'handover', participant: id });
    });
    $('#end-btn').addEventListener('click', () => {
      send({ type: 'end' });
    });
    $('#status').addEventListener('click', () => setStatus(''));
    window.addEventListener('pagehide', () => { if (ws) { closing = true; ws.close(); } });
    show('landing');
    readUrl();
  }

  init();
}());
