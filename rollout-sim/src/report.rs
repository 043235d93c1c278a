//! The timeline chart of a simulation as SVG (or an HTML page around it).
