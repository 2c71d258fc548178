window.FontAwesomeConfig = Object.assign(window.FontAwesomeConfig || {}, {autoReplaceSvg: 'nest'});  // keep Play's <i> icon so html-manager can update it (see kernel_free_widgets notes)
