"""Getting the music: song audio through yt-dlp, clips cut from songs, the clip cache,
rendering MIDI to audio.
"""
