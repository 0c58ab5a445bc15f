export function App() {
  return <h1>AVS Studio</h1>;
}
